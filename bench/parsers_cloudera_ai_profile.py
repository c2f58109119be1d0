#!/usr/bin/env python3
"""The Cloudera AI parser alone: a golden corpus to prove a speed change altered no output byte, and
µs/record of parse_batch (+ orjson.dumps, what the pipeline does with each event) beside the floor.

    .venv/bin/python bench/parsers_cloudera_ai_profile.py golden --write /tmp/cloudera_ai.golden   # before a change
    .venv/bin/python bench/parsers_cloudera_ai_profile.py golden --check /tmp/cloudera_ai.golden   # after each change
    .venv/bin/python bench/parsers_cloudera_ai_profile.py time [--records 100000]
    PYTHONHASHSEED=0 valgrind --tool=cachegrind --cache-sim=no .venv/bin/python bench/parsers_cloudera_ai_profile.py count [--json|--floor]
    (and again with --rounds 0: the difference / --records (10 k) is the instructions per record of parse_batch
    + dumps, or of loads + dumps alone (--json), or of bench/floor.py's loop (--floor))

The golden corpus (~20 k lines, seeded, so the same on every run): bench/corpus.py's backfill rows, every
shape of tests/parsers/test_cloudera_ai.py (every catalogued event name in several casings, descriptions as
`key: value` / `key=value` text, quoted values, JSON objects in text or as objects, NORMAL/ADMIN and
LDAP/SAML/local words, role keys that are neither), created_at in every form (ISO, psql text with
offsets, epoch seconds/ms, invalid dates, odd types), forwarded/prefixed/v6/non-address ipaddr, odd
types in every column, missing columns, extra columns, nulls, broken JSON, NUL bytes, random objects,
blank lines, config/samples. It is parsed twice by one UTC parser (a warm parser must say what a cold
one does; the run fails if they differ) and once by a parser in Europe/Berlin. `now_iso` is pinned while
the golden file is made and checked: records without a readable time get the clock.
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

import shipper_plugins.parsers.cloudera_ai as camod
from shipper import ecs
from shipper_plugins.parsers.cloudera_ai import CATALOG, ClouderaAIParser
from tests.parsers import test_cloudera_ai as tca

COLUMNS = ["id", "user_id", "ipaddr", "user_agent", "event_name", "description", "created_at"]
EXTRA_KEYS = ["workspace", "workspaceName", "Project-ID", "already_snake", "x y z", "@", "", "ünïcode", "ID",
              "eventName", "ipAddr", "column"]
NAMES = sorted(k[0] for k in CATALOG)
TIMES = ["2024-05-01T10:11:12.345678", "2024-05-01T10:11:12", "2024-05-01 10:11:12", "2024-05-01 10:00:00.5+00",
         "2024-05-01T10:00:00+02:00", "2024-05-01T10:00:00Z", "2024-05-01T10:00:00.123z", " 2024-05-01 10:00:00 ",
         "2024-03-31 02:30:00", "2024-10-27 02:30:00", "2024-02-30 00:00:00", "2024-05-01 24:00:00",
         "2024-05-01 10:00:60", "0999-01-01 00:00:00", "2024-05-01", "yesterday", "", "   ", 1714557600,
         1714557600123, 1.7145576e9, -5, 0, True, False, 10 ** 20, 1e300, [1], {"t": 1}, "2024-05-01T10:00:00.1234567Z",
         "20240501T101112", "2024-05-01T10:11:12-07:00", "2024-05-01 10:11:12.123456+05:30"]
IPS = ["10.20.30.40", " 10.0.0.2 ", "127.0.0.1", "127.0.0.1/32", "10.0.0.1/8", "::1", "::1/128", "2001:db8::1",
       "::ffff:10.0.0.1", "[2001:db8::1]:443", "10.1.2.3:8443", "203.0.113.9, 10.0.0.1", "10.0.0.1,10.0.0.1",
       "unknown, 10.0.0.5", "not-an-ip", "unknown", "", " ", "999.1.1.1", "127.0.0.2", "0.0.0.0", 167772161, 3.5,
       True, ["10.0.0.1"], {"ip": "10.0.0.1"}, "10.0.0.1/33", "fe80::1%eth0", "10.0.0.1, , 10.0.0.2"]
DESCRIPTIONS = [
    "model: churn-v2, model id: 17, user type: ADMIN, username: alice",
    "User alice logged in with LDAP, user type: NORMAL", "username=carol; auth=local; NORMAL",
    '{"username": "bob", "userType": "ADMIN", "authMethod": "saml"}',
    '{"modelName": "m", "modelId": 9, "username": "dee", "userType": "normal"}',
    '  {"username": "eve", "role": "viewer"}', '{"username": "x", "nested": {"a": 1}, "l": [1]}',
    '{"username": null, "user_type": true, "model_id": 0}', '{broken json', '{"a": 1} trailing', "{}", "[]",
    "deleted /home/cdsw/x.py", "Logged in as user: frank", 'username: "quoted, name", model name: \'m q\'',
    "user-name: grace; model-id=42; Model Name = big model", "role: viewer", "role: admin", "user type: superuser ADMIN",
    "type of user: normal", "auth method: kerberos", "auth method: SAML via okta", "authentication=LDAP",
    "method: Local", "signed in via saml", "NORMAL", "ADMIN user", "ADMINISTRATOR", "", "   ", "username:", "username: ",
    ":::", "=", "a=b=c", "user: h, user: i", "Username: Ivan, USER TYPE: Admin", "login: j\nmodel: k",
    "name of user: kim; model: m1; model id: 7", "ünïcode: välue, username: ömer", "x" * 300 + ": y",
    "model: , model id: , username: ,", "user type:NORMAL,username:zed", "LDAP/SAML user created: ldapuser",
    "user: bob, username: alice, role: ADMIN, user type: NORMAL, auth: SAML, method: LDAP, model: a, modelname: b",
    '{"user": "bob", "username": "alice", "role": "ADMIN", "userType": "NORMAL", "method": "local", "auth": "saml"}',
    17, 0, -1, 1.5, True, False, ["a", "b"], {"username": "obj", "userType": "ADMIN", "authMethod": "ldap"},
    {"modelName": "om", "modelId": 3}, {}, {"nested": {"username": "n"}}, {"Username": 5, "user type": "normal"},
]
ODD = [None, "", " ", 0, 1, -1, 1.5, True, False, [], ["a"], {}, {"a": 1}, "x" * 200, "ünïcode", "\t\n", 2 ** 63 - 1]
AUTH_NAMES = ["user login", "ldap/saml user creation", "User Login", "USER LOGIN", " user login ", "LDAP/SAML User Creation"]


def _value(rnd: random.Random, depth: int = 0):
    k = rnd.randrange(10 if depth < 2 else 6)
    if k == 0:
        return None
    if k == 1:
        return rnd.choice([True, False, 0, 1, -5, 2 ** 62, 1.5, 1e300])
    if k == 2:
        return rnd.choice(TIMES[:20] + IPS[:20])
    if k == 3:
        return rnd.choice(DESCRIPTIONS[:50] + NAMES[:10])
    if k == 4:
        return "".join(rnd.choice("aZ0_-@., :=;{}\"'é\\/") for _ in range(rnd.randrange(14)))
    if k == 5:
        return rnd.choice(["alice", "bob", "NORMAL", "ADMIN", "LDAP"])
    if k in (6, 7):
        return {rnd.choice(COLUMNS + EXTRA_KEYS): _value(rnd, depth + 1) for _ in range(rnd.randrange(4))}
    return [_value(rnd, depth + 1) for _ in range(rnd.randrange(3))]


def _shaped(rnd: random.Random, i: int) -> bytes:
    """A tests/parsers/test_cloudera_ai.py row() with its columns turned: every description, time, address and
    event name in turn, then some columns nulled, dropped, reordered, of odd types, or joined by others."""
    doc = orjson.loads(tca.row())
    doc["id"] = i
    doc["event_name"] = (NAMES + AUTH_NAMES * 4)[i % (len(NAMES) + 4 * len(AUTH_NAMES))]
    doc["description"] = DESCRIPTIONS[i % len(DESCRIPTIONS)]
    doc["created_at"] = TIMES[(i // 3) % len(TIMES)] if rnd.random() < 0.4 else f"2024-05-{1 + i % 28:02d}T10:{i % 60:02d}:12.{i % 1000:03d}"
    doc["ipaddr"] = IPS[(i // 7) % len(IPS)]
    doc["user_id"] = rnd.choice([doc["user_id"], "4", 4, "", None, " u-5 "])
    r = rnd.random()
    if r < 0.3:
        pass
    elif r < 0.45:  # nulls
        for k in rnd.sample(COLUMNS, rnd.randrange(1, 4)):
            doc[k] = None
    elif r < 0.55:  # missing columns
        for k in rnd.sample(COLUMNS, rnd.randrange(1, 4)):
            doc.pop(k, None)
    elif r < 0.75:  # an odd value in one column
        doc[rnd.choice(COLUMNS)] = rnd.choice(ODD) if rnd.random() < 0.7 else _value(rnd)
    elif r < 0.9:  # extra columns
        for _ in range(rnd.randrange(1, 3)):
            doc[rnd.choice(EXTRA_KEYS)] = _value(rnd)
    else:  # columns in another order
        items = list(doc.items())
        rnd.shuffle(items)
        doc = dict(items)
    line = json.dumps(doc).encode()  # spaces after separators too
    if rnd.random() < 0.5:
        try:
            line = orjson.dumps(doc)
        except TypeError:  # an integer beyond 64 bits, which only json writes
            pass
    return line


def _public_samples() -> list[bytes]:
    """config/samples' rows and a row per event name of tests/data/samples/cloudera_ai's partial list."""
    lines = (REPO / "config" / "samples" / "cloudera_ai" / "user_events.jsonl").read_bytes().splitlines()
    partial = (REPO / "tests" / "data" / "samples" / "cloudera_ai" / "user_events-documented-event_names.partial.txt")
    for n, name in enumerate(partial.read_text().splitlines()):
        if name.strip() and not name.startswith("#"):
            lines.append(tca.row(id=5000 + n, event_name=name.strip(), created_at=f"2026-11-02 09:{n % 60:02d}:00"))
    return lines


def golden_lines(n: int = 20_000) -> list[bytes]:
    rnd = random.Random(11)
    lines = list(corpora.cloudera_ai(n // 2))
    lines += [_shaped(rnd, i) for i in range(n // 2 - 1200)]
    for _ in range(1000):  # random objects of the documented columns and others
        doc = {rnd.choice(COLUMNS + EXTRA_KEYS): _value(rnd) for _ in range(rnd.randrange(9))}
        lines.append(json.dumps(doc).encode())
    for name in NAMES:  # every event name in other casings and with spaces
        for spelt in (name.upper(), name.title(), f" {name} ", f"{name}\t"):
            lines.append(tca.row(event_name=spelt))
    lines += parser_golden.NOT_RECORDS
    lines += [b'{"id": 1, "event_name": ', b"true",
              b'{"id":1,"event_name":"job started","created_at":"2024-05-01 10:00:00","description":"a\x00b"}',
              b'{"id":1,"event_name":"job started","description":"\xff\xfe","created_at":"2024-05-01 10:00:00"}',
              b'prefix {"id":1,"event_name":"job started","created_at":"2024-05-01 10:00:00"}',
              b'{"id": 99999999999999999999}',
              b'{"id":1,"event_name":"x","event_name":"user login","created_at":"2024-05-01 10:00:00"}']
    lines += _public_samples()
    return lines


def golden_bytes(lines: list[bytes]) -> bytes:
    """Twice by one UTC parser (warm = cold), then by a parser in Europe/Berlin (the timestamp memos)."""
    return parser_golden.output(ClouderaAIParser, lines, [ecs, camod], (ClouderaAIParser({"timezone": "Europe/Berlin"}),))


def main() -> int:
    return parser_golden.cli(ClouderaAIParser, lambda n, a: corpora.cloudera_ai(n), floor.cloudera_ai_mapper, golden_lines, golden_bytes)


if __name__ == "__main__":
    sys.exit(main())
