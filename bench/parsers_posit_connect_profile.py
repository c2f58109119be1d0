#!/usr/bin/env python3
"""The Posit Connect parser alone: a golden corpus to prove a speed change altered no output byte, and
µs/record of parse_batch (+ orjson.dumps, what the pipeline does with each event) beside the floor.

    .venv/bin/python bench/parsers_posit_connect_profile.py golden --write /tmp/posit_connect.golden   # before a change
    .venv/bin/python bench/parsers_posit_connect_profile.py golden --check /tmp/posit_connect.golden   # after each change
    .venv/bin/python bench/parsers_posit_connect_profile.py time [--fmt text|json] [--records 100000]
    valgrind --tool=cachegrind --cache-sim=no .venv/bin/python bench/parsers_posit_connect_profile.py count [--fmt text|json] [--json|--floor]
    (and again with --rounds 0: the difference / --records (10 k) is the instructions per record of parse_batch
    + dumps, or of loads + dumps alone (--json), or of bench/floor.py's loop (--floor; both on the JSON corpus);
    PYTHONHASHSEED=0 steadies it)

The golden corpus (~20 k lines, seeded, so the same on every run): bench/corpus.py's generator in TEXT and
JSON, every documented action of tests/parsers/test_posit_connect.py as TEXT and JSON with user and system actors
and with fields turned: odd types in every field (JSON: null, bools, floats, big and negative integers,
lists, objects; TEXT: non-integer and spaced ids, repeated keys, empty values, bare keys), fields missing,
keys in other spellings, Go escapes of every kind, stray and unterminated quotes, NUL bytes, invalid UTF-8,
broken JSON, random objects and random logfmt, blank lines, the public samples. It is parsed twice by one UTC
parser (a warm parser must say what a cold one does; the run fails if they differ) and once by a parser in
America/New_York. `now_iso` is pinned while the golden file is made and checked.
"""
from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import orjson

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(BENCH))

import corpus as corpora
import floor
import parser_golden

import shipper_plugins.parsers.posit_connect as pcmod
from shipper import ecs
from shipper_plugins.parsers.posit_connect import PositConnectParser
from tests.parsers import test_posit_connect as tpc
from tests.vendor_lists import SAMPLES, posit_connect_events

KEYS = ["time", "level", "msg", "action", "entry_id", "type", "actor_id", "actor_guid", "actor_role",
        "actor_description", "user_id", "user_guid", "user_role", "group_id", "group_name", "group_guid",
        "new_username", "previous_username", "new_email", "previous_email", "new_user_role", "previous_user_role",
        "new_user_id", "previous_user_id", "new_first_name", "previous_first_name", "new_last_name",
        "previous_last_name", "content_id", "id", "ID", "Id", "actorId", "entryId", "userRole", "user-role",
        "Time", "MSG", "someNewKey", "x-y z", "_", "__", "@", "ünïcode", "a.b", "_id", "x_id"]
TIMES = ["2022-10-18T20:07:39.813Z", "2022-10-18T20:07:39Z", "2022-10-18T20:07:39.123456789Z",
         "2022-10-18 20:07:39", "2022-10-18T20:07:39", "2022-10-18T20:07:39+02:00", "2022-02-30T00:00:00Z",
         "2022-10-18T24:00:00Z", "2022-03-13T02:30:00", "2022-11-06T01:30:00", " 2022-10-18T20:07:39.813Z ",
         "2022-10-18t20:07:39z", "yesterday", "", "0", "1700000000", "0999-01-01T00:00:00Z"]
ODD_JSON = [None, True, False, 0, 1, -5, 2 ** 70, -(2 ** 70), 1.5, 1e300, "", " ", " 7 ", "-3", "+3", "007", "abc",
            "٣", "²", "1e3", [], [1], [1, 2], ["1", "x"], [None], [[1]], {}, {"a": 1}, "x" * 70]
ODD_TEXT = ["", " ", " 7 ", "-3", "+3", "007", "abc", "٣", "²", "1e3", "true", "null", "-", "--1", "0",
            "9" * 30, "é", "a b", "x" * 70, "Frank Castell (fcastell)", "(solo)", "()", "( )", "A (b) (c)", "system",
            "SYSTEM", "administrator"]


def _value(rnd: random.Random, depth: int = 0):
    k = rnd.randrange(10 if depth < 2 else 6)
    if k == 0:
        return None
    if k == 1:
        return rnd.choice(ODD_JSON)
    if k == 2:
        return rnd.choice(TIMES)
    if k == 3:
        return rnd.choice(["add_user", "ADD_USER", "user_login", "edit_user", "brand_new", "", "system"])
    if k == 4:
        return "".join(rnd.choice('aZ0_-@., ={}"é\\/\t\n\x1b') for _ in range(rnd.randrange(12)))
    if k == 5:
        return rnd.choice(ODD_TEXT)
    if k in (6, 7):
        return {rnd.choice(KEYS): _value(rnd, depth + 1) for _ in range(rnd.randrange(4))}
    return [_value(rnd, depth + 1) for _ in range(rnd.randrange(3))]


def _text_value(rnd: random.Random, v) -> str:
    """A value as logrus writes it: bare when it may be, else Go-quoted; sometimes quoted anyway or JSON-escaped."""
    s = v if isinstance(v, str) else str(v)
    r = rnd.random()
    if r < 0.1:
        return json.dumps(s, ensure_ascii=rnd.random() < 0.5)
    if r < 0.2 or not tpc.BARE.fullmatch(s):
        return tpc.go_quote(s)
    return s


def _shaped_text(rnd: random.Random, rec: dict) -> bytes:
    items = list(rec.items())
    rnd.shuffle(items)
    r = rnd.random()
    if r < 0.15:  # a field missing
        del items[rnd.randrange(len(items))]
    elif r < 0.35:  # an odd value in one field
        i = rnd.randrange(len(items))
        items[i] = (items[i][0], rnd.choice(ODD_TEXT + TIMES))
    elif r < 0.45:  # a key repeated, with the same or another value
        k, v = items[rnd.randrange(len(items))]
        items.insert(rnd.randrange(len(items) + 1), (k, rnd.choice([v, v, "other", "5", ""])))
    elif r < 0.55:  # another spelling of a key, or a key nobody documents
        items.append((rnd.choice(KEYS), rnd.choice(ODD_TEXT)))
    parts = [f"{k}={_text_value(rnd, v)}" for k, v in items]
    sep = rnd.choice([" ", " ", " ", "  ", "\t", " \t "])
    line = sep.join(parts)
    r = rnd.random()
    if r < 0.02:
        line = "  " + line + " \t"
    elif r < 0.04:  # a bare key, a stray quote, a quote not followed by a space, an unterminated quote
        cut = rnd.randrange(len(line) + 1)
        line = line[:cut] + rnd.choice([" bare ", ' "x" ', '"', ' k="open', " =v ", "x", '\\"', " k=a\"b "]) + line[cut:]
    elif r < 0.05:
        line = line[: rnd.randrange(len(line) + 1)]  # cut short
    return line.encode()


def _shaped_json(rnd: random.Random, rec: dict) -> bytes:
    doc = dict(rec)
    keys = list(doc)
    r = rnd.random()
    if r < 0.15:
        del doc[keys[rnd.randrange(len(keys))]]
    elif r < 0.45:
        doc[keys[rnd.randrange(len(keys))]] = rnd.choice(ODD_JSON + TIMES)
    elif r < 0.55:
        doc[rnd.choice(KEYS)] = _value(rnd)
    elif r < 0.65:
        items = list(doc.items())
        rnd.shuffle(items)
        doc = dict(items)
    line = json.dumps(doc).encode()
    if rnd.random() < 0.5:
        try:
            line = orjson.dumps(doc)
        except TypeError:  # an integer beyond 64 bits, which only json writes
            pass
    if rnd.random() < 0.02:
        line = line[: rnd.randrange(len(line) + 1)]
    return line


def _random_logfmt(rnd: random.Random) -> bytes:
    parts = []
    for _ in range(rnd.randrange(9)):
        k = rnd.choice(KEYS)
        v = _value(rnd)
        parts.append(f"{k}={_text_value(rnd, '' if v is None else v)}" if rnd.random() < 0.9 else k)
    return " ".join(parts).encode()


def _public_samples() -> list[bytes]:
    lines = []
    for path in sorted((REPO / "config" / "samples" / "posit_connect").iterdir()):
        lines += path.read_bytes().splitlines()
    for path in sorted((SAMPLES / "posit_connect").glob("audit-TEXT-*")):
        lines += path.read_bytes().splitlines()
    head = b'time="2022-01-01T20:00:00.000Z" level=info msg=m action=add_tag entry_id=1 type=audit '
    lines += [head + l for l in (SAMPLES / "posit_connect" / "audit-TEXT-actor-fragments.docs.txt")
              .read_bytes().splitlines() if l and not l.startswith(b"#")]
    return lines


def golden_lines(n: int = 20_000) -> list[bytes]:
    rnd = random.Random(8)
    seed = posit_connect_events()
    actions = sorted(seed.items())
    lines = list(corpora.posit_connect(n // 4, "text")) + list(corpora.posit_connect(n // 4, "json"))
    for i in range(n // 2 - 1400):
        action, fields = actions[i % len(actions)]
        rec = tpc.make_record(action, fields, i, rnd.random() < 0.3, rnd)
        if rnd.random() < 0.2:  # the affected user's changes, as edit_user writes them
            for f in ("username", "email", "user_role", "first_name", "last_name", "user_id"):
                if rnd.random() < 0.5:
                    rec["previous_" + f] = rnd.choice(["bob", "Bob", "", "viewer", 5])
                if rnd.random() < 0.5:
                    rec["new_" + f] = rnd.choice(["bob", "bobby", "Robert", "", "publisher", 6])
        if rnd.random() < 0.1:
            rec["actor_description"] = rnd.choice(ODD_TEXT)
        lines.append(_shaped_text(rnd, rec) if i % 2 == 0 else _shaped_json(rnd, rec))
    for _ in range(600):
        lines.append(json.dumps({rnd.choice(KEYS): _value(rnd) for _ in range(rnd.randrange(9))}).encode())
    for _ in range(600):
        lines.append(_random_logfmt(rnd))
    lines += parser_golden.NOT_RECORDS
    lines += [b"\r\n", b'{"time": "2022-10-18T20:07:39.813Z", "action": ', b"not logfmt at all", b"\x00\x00",
              b'time="2022-10-18T20:07:39.813Z" action=add_user entry_id=4 msg="a\x00b"',
              b'time="2022-10-18T20:07:39.813Z" action=add_user entry_id=4 msg="\xff\xfe"',
              b'time="2022-10-18T20:07:39.813Z" action=add_user entry_id=4 msg="caf\xc3\xa9"',
              b'{"time":"2022-10-18T20:07:39.813Z","action":"add_user","entry_id":4,"msg":"\xff"}',
              rb'a="tab\there" b="\x1b[0m" c="caf\u00e9 \U0001F600" d="q\"q\\" e="\101\x42" f=plain g=""',
              rb'x="bad \q escape" y=1 y=2 y=1 z="\ud800" w="\xff\xfe" v="\400" u="\u12" t="\U0011FFFF"',
              rb'msg="ends in a backslash\\" action=a', rb'msg="escaped quote at the end\"', b'k="a\nb" j=1',
              b'k=a\rb j=1', b'k=a\xc2\xa0b j=1', b'k="a"b j=1', b'"k"=v', b'=v', b'k==v', b'k=v=w',
              b'{"time":"2022-10-18T20:07:39.813Z","action":"x","action":"add_user","entry_id":1}',
              b'time="2022-10-18T20:07:39.813Z" action=x action=add_user action=x entry_id=1 entry_id=2',
              b'time=2022-10-18T20:07:39.813Z time=2022-10-18T20:07:40.813Z action=add_user entry_id=1',
              b'time="2022-10-18T20:07:39.813Z" action=add_user entry_id=1 actor_id=0 actor_guid=g actor_role=system',
              b'time="2022-10-18T20:07:39.813Z" action=add_user entry_id=1 actor_id=0 actor_id=00 user_id=1 user_id=x']
    lines += _public_samples()
    return lines


def golden_bytes(lines: list[bytes]) -> bytes:
    """Twice by one UTC parser (warm = cold), then by a parser in America/New_York (zone-less times)."""
    return parser_golden.output(PositConnectParser, lines, [ecs, pcmod],
                                (PositConnectParser({"timezone": "America/New_York"}),))


def _fmt_argument(ap) -> None:
    ap.add_argument("--fmt", choices=("text", "json"), default="text", help="the corpus: TEXT (the default) or JSON lines")


def main() -> int:
    return parser_golden.cli(PositConnectParser, lambda n, a: corpora.posit_connect(n, a.fmt), floor.posit_connect_mapper, golden_lines, golden_bytes,
                             json_corpus=lambda n, a: corpora.posit_connect(n, "json"), add_arguments=_fmt_argument)


if __name__ == "__main__":
    sys.exit(main())
