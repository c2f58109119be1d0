#!/usr/bin/env python3
"""The Datameer parser alone: a golden corpus to prove a speed change altered no output byte, and
µs/record of parse_batch (+ orjson.dumps, what the pipeline does with each event) beside the floor.

    .venv/bin/python bench/parsers_datameer_profile.py golden --write /tmp/datameer.golden   # before a change
    .venv/bin/python bench/parsers_datameer_profile.py golden --check /tmp/datameer.golden   # after each change
    .venv/bin/python bench/parsers_datameer_profile.py time [--records 100000]
    valgrind --tool=cachegrind --cache-sim=no .venv/bin/python bench/parsers_datameer_profile.py count [--json|--floor]
    (and again with --rounds 0: the difference / --records (10 k) is the instructions per record of parse_batch
    + dumps, or of loads + dumps alone (--json), or of bench/floor.py's loop (--floor); PYTHONHASHSEED=0 steadies it)

The golden corpus (~20 k lines, seeded, so the same on every run): bench/corpus.py's backfill mix, every
documented action in every key spelling of tests/parsers/test_datameer.py, nulls, odd types in every role, roles
as a list or a comma string, non-address and port-suffixed IPs, failed logins naming the account, two
spellings of one field, Log4j layout prefixes, broken JSON, NUL bytes, random objects, blank lines, the
public samples. It is parsed twice by one UTC parser (a warm parser must say what a cold one does; the
run fails if they differ) and once by a parser in America/New_York. `now_iso` is pinned while the golden
file is made and checked: records without a readable time get the clock, no output byte of the parser's.
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

import shipper_plugins.parsers.datameer as dmmod
from shipper import ecs
from shipper_plugins.parsers.datameer import DatameerParser
from tests.parsers import test_datameer as tdm
from tests.vendor_lists import SAMPLES, datameer_actions

# Names of every role in several spellings, the documented extra fields, and keys nobody knows.
ROLE_KEYS = ["timestamp", "Timestamp", "time", "date-time", "eventTime", "action-type", "actionType", "action type",
             "ACTION_TYPE", "type", "loggedActionType", "action", "Action", "logged-action", "actionName",
             "performing-user", "performingUser", "performer", "actor", "user", "roles", "Roles", "userRoles",
             "roles of performing user", "ip-address", "ipAddress", "IP", "clientIp", "remote_address",
             "user-name", "userName", "new-owner", "execution-job-user", "group-name", "groupName", "file-path",
             "folder-path", "FolderPath", "application-path", "workbook-path", "datasource-path", "file-uuid",
             "connection-id", "someNewKey", "already_snake", "x-y z", "", "@", "ünïcode"]
TIMES = ["2026-03-04 05:06:07", " 2026-03-04 05:06:07 ", "2026-03-04T05:06:07", "2026-03-04T05:06:07Z",
         "2026-03-04T05:06:07.123+02:00", "2026-02-30 00:00:00", "2026-03-04 24:00:00", "2026-03-04 05:06:60",
         "2026-03-08 02:30:00", "2026-11-01 01:30:00", "0999-01-01 00:00:00", "yesterday", "", 1700000000,
         1700000000123, 1.7e9, -5, True, 10 ** 20, [1], {"t": 1}]
IPS = ["198.51.100.7", " 10.0.0.2 ", "10.1.2.3:8443", "::1", "[2001:db8::1]:443", "::ffff:10.0.0.1", "not-an-ip",
       "", "999.1.1.1", "10.0.0.1, 10.0.0.2", 167772161, 3.5, True, ["10.0.0.1"], {"ip": "10.0.0.1"}]
ROLES = [["ADMIN", "ANALYST"], ["ANALYST"], [], ["", None, "X", 5], "ADMIN, ANALYST", " ADMIN ,, ", "", "ADMIN",
         7, True, {"a": 1}, [["nested"]], None]
USERS_ODD = ["alice", "", " ", "bob smith", 42, 0, False, 1.5, ["a"], {"name": "x"}, "élodie", None]


def _value(rnd: random.Random, depth: int = 0):
    k = rnd.randrange(11 if depth < 2 else 7)
    if k == 0:
        return None
    if k == 1:
        return rnd.choice([True, False, 0, 1, -5, 2 ** 70, 1.5, 1e300])
    if k == 2:
        return rnd.choice(TIMES + IPS)
    if k == 3:
        return rnd.choice(["AUTHENTICATION", "authentication", "LOGIN", "login", "FILESYSTEM", "CREATE", "JOB",
                           "USER_MANAGEMENT", "DELETE_USER", "WORKBOOK", "EXPLODE_SHEET"])
    if k == 4:
        return "".join(rnd.choice("aZ0_-@., {}\"é\\/") for _ in range(rnd.randrange(12)))
    if k in (5, 6):
        return rnd.choice(["alice", "bob", "/x/y", "x"])
    if k in (7, 8):
        return {rnd.choice(ROLE_KEYS): _value(rnd, depth + 1) for _ in range(rnd.randrange(4))}
    return [_value(rnd, depth + 1) for _ in range(rnd.randrange(3))]


def _shaped(rnd: random.Random, rows: list, i: int) -> bytes:
    """A test_datameer record() line with its knobs turned, then some fields changed in type or spelling."""
    row = rows[i % len(rows)]
    raw, _ = tdm.record(row, tdm.STYLES[(i // len(rows)) % len(tdm.STYLES)],
                        user=rnd.choice(["alice", "bob", "carol", "", None, "mallory"]),
                        ip=rnd.choice(IPS[:10] + [None]))
    doc = orjson.loads(raw)
    keys = list(doc)
    r = rnd.random()
    if r < 0.3:
        return raw
    if r < 0.45:  # nulls for unused fields, as Datameer writes them
        for k in rnd.sample(keys, rnd.randrange(1, len(keys))):
            doc[k] = None
    elif r < 0.75:  # an odd value in one of the roles
        k = keys[rnd.randrange(len(keys))]
        pick = {0: TIMES, 1: ["authentication", "FileSystem", 5, True, ["JOB"], ""], 2: ["login", 7, "", {"a": 1}],
                3: USERS_ODD, 4: ROLES, 5: IPS}.get(keys.index(k))
        doc[k] = rnd.choice(pick) if pick else _value(rnd)
    elif r < 0.9:  # another spelling of a field beside the first, or a key nobody documents
        doc[rnd.choice(ROLE_KEYS)] = _value(rnd)
    else:  # keys in another order
        items = list(doc.items())
        rnd.shuffle(items)
        doc = dict(items)
    line = json.dumps(doc).encode()  # spaces after separators too
    if rnd.random() < 0.5:
        try:
            line = orjson.dumps(doc)
        except TypeError:  # an integer beyond 64 bits, which only json writes
            pass
    if rnd.random() < 0.05:
        line = rnd.choice([b"2026-07-01 12:00:00,123 INFO ", b"[main] ", b"x"]) + line
    return line


def _public_samples() -> list[bytes]:
    """config/samples' log and a line per row of the partial catalogue in tests/data/samples/datameer."""
    lines = (REPO / "config" / "samples" / "datameer" / "useraction.log").read_bytes().splitlines()
    import csv
    with open(SAMPLES / "datameer" / "useraction-documented-action-catalog.partial.csv", encoding="utf-8") as f:
        for n, r in enumerate(csv.DictReader(f)):
            doc = {"timestamp": f"2026-11-02 09:{n:02d}:00", "action-type": r["logged_action_type"],
                   "action": r["logged_action"], "performing-user": "alice", "roles": ["ADMIN"], "ip-address": "192.0.2.10"}
            doc.update({fld.strip(): f"v-{fld.strip()}" for fld in r["additional_json_fields"].split(",") if fld.strip()})
            lines.append(orjson.dumps(doc))
    return lines


def golden_lines(n: int = 20_000) -> list[bytes]:
    rnd = random.Random(8)
    rows = datameer_actions()
    lines = list(corpora.datameer(n // 2))
    lines += [_shaped(rnd, rows, i) for i in range(n // 2 - 1200)]
    for _i in range(1000):
        doc = {rnd.choice(ROLE_KEYS): _value(rnd) for _ in range(rnd.randrange(9))}
        lines.append(json.dumps(doc).encode())
    for row in rows:  # failed logins name the account; ownership changes name the new owner
        for user in ("alice", None, ""):
            lines.append(orjson.dumps({"timestamp": "2026-03-04 05:06:07", "actionType": row.action_type,
                                       "action": row.action, "performingUser": user, "roles": None,
                                       "ipAddress": "203.0.113.9", "userName": "mallory", "newOwner": "nina",
                                       "executionJobUser": user, "groupName": "g", "folderPath": "/f", "filePath": "/p"}))
    lines += parser_golden.NOT_RECORDS
    lines += [b'{"timestamp": "2026-01-01 00:00:00", "action": ',
              b'{"timestamp":"2026-07-01 12:00:00","actionType":"JOB","action":"START\x00_EXECUTION"}',
              b'{"timestamp":"2026-07-01 12:00:00","actionType":"JOB","action":"\xff\xfe"}',
              b'prefix {"timestamp":"2026-07-01 12:00:00","actionType":"JOB","action":"START_EXECUTION"}',
              b'{"timestamp":"2026-07-01 12:00:00","action":"X","action":"LOGIN","actionType":"AUTHENTICATION"}']
    lines += _public_samples()
    return lines


def golden_bytes(lines: list[bytes]) -> bytes:
    """Twice by one UTC parser (warm = cold), then by a parser in America/New_York (the timestamp memos)."""
    return parser_golden.output(DatameerParser, lines, [ecs, dmmod], (DatameerParser({"timezone": "America/New_York"}),))


def main() -> int:
    return parser_golden.cli(DatameerParser, lambda n, a: corpora.datameer(n), floor.datameer_mapper, golden_lines, golden_bytes)


if __name__ == "__main__":
    sys.exit(main())
