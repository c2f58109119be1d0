#!/usr/bin/env python3
"""The Puppet Enterprise parser alone: a golden corpus to prove a speed change altered no output byte, and
µs/record (one record = one activity commit, several events) of parse_batch + orjson.dumps of every event
beside bench/floor.py's loop.

    .venv/bin/python bench/parsers_puppet_enterprise_profile.py golden --write /tmp/puppet_enterprise.golden   # before
    .venv/bin/python bench/parsers_puppet_enterprise_profile.py golden --check /tmp/puppet_enterprise.golden   # after each
    .venv/bin/python bench/parsers_puppet_enterprise_profile.py time [--records 100000]
    PYTHONHASHSEED=0 valgrind --tool=cachegrind --cache-sim=no .venv/bin/python bench/parsers_puppet_enterprise_profile.py count [--json|--floor]
    (and again with --rounds 0: the difference / --records (10 k) is the instructions per record of parse_batch
    + dumps, or of loads + dumps alone (--json), or of bench/floor.py's loop (--floor))

The golden corpus (~20 k lines, seeded, so the same on every run): bench/corpus.py's backfill mix, every
shape of tests/parsers/test_puppet_enterprise.py (v1 and v2 commits with every catalogue example, the seed's rows,
the CSV exports' rows, the activity database's rows, saved response pages, bare commits), every key in
several spellings and two spellings of one key, nulls, odd types in every field and in every event field,
unknown commit and event keys, non-address IPs, zone-less times, malformed pages, broken JSON, random
objects, blank lines, the public samples. It is parsed twice by one UTC parser (a warm parser must say what
a cold one does; the run fails if they differ) and once by a parser in America/New_York. `now_iso` is
pinned while the golden file is made and checked.
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

import shipper_plugins.parsers.puppet_enterprise as pemod
from shipper import ecs
from shipper_plugins.parsers.puppet_enterprise import PuppetEnterpriseParser
from tests.parsers import test_puppet_enterprise as tpe
from tests.vendor_lists import SAMPLES as TEST_SAMPLES, puppet_enterprise_rows

SAMPLES = TEST_SAMPLES / "puppet_enterprise"

# Each role's key in several spellings (the parser compares keys spelling-blind), plus keys nobody knows.
SPELLINGS = {
    "service_id": ["service_id", "serviceId", "service-id", "Service Id"],
    "api_version": ["api_version", "apiVersion", "api-version"],
    "commit": ["commit", "Commit", "COMMIT"],
    "subject": ["subject", "Subject"],
    "objects": ["objects", "Objects"],
    "object": ["object", "Object"],
    "timestamp": ["timestamp", "Timestamp", "submit_time", "submitTime", "Submit Time", "service_commit_time",
                  "serviceCommitTime"],
    "ip_address": ["ip_address", "ip-address", "ipAddress", "IP", "ip", "Ip Address"],
    "events": ["events", "Events"],
}
EVENT_KEYS = ["type", "Type", "what", "What", "description", "Description", "message", "Message", "MESSAGE",
              "id", "extra", "someNewKey", "x-y z", "", "@", "ünïcode"]
ODD_KEYS = [k for v in SPELLINGS.values() for k in v] + ["service", "extra", "someNewKey", "already_snake", "x-y z",
                                                          "", "@", "ünïcode", "id", "name", "type", "malformed_page"]
TIMES = ["2019-03-05T18:52:27Z", "2019-03-05T18:52:27.123456Z", " 2019-03-05T18:52:27Z ", "2014-07-17 13:08:09.985221",
         "2017-04-06 17:00:57.075+00", "2017-04-06T17:00:57.075+00:00", "2026-03-08T02:30:00", "2026-11-01 01:30:00",
         "2026-02-30T00:00:00Z", "2026-03-04T24:00:00Z", "0999-01-01T00:00:00Z", "yesterday", "", 1700000000,
         1700000000123, 1.7e9, -5, True, False, 0, 10 ** 19, [1], {"t": 1}, None]
IPS = ["198.51.100.7", " 10.0.0.2 ", "10.1.2.3:8443", "::1", "[2001:db8::1]:443", "::ffff:10.0.0.1", "not-an-ip",
       "an ip address", "", "999.1.1.1", "10.0.0.1, 10.0.0.2", 167772161, 3.5, True, ["10.0.0.1"], {"ip": "10.0.0.1"},
       None]
ODD = [None, "", " ", "x", 0, 1, -5, 2 ** 63, 1.5, True, False, [], ["a"], [None], {}, {"id": "x"}, "élodie",
       "users", "user_groups", "User revoked."]
OBJECT_TYPES = ["users", "user", "Users", "user_groups", "user_group", "groups", "roles", "node_groups", "nodes",
                "directory_server_settings", "", None, 5]


def _value(rnd: random.Random, depth: int = 0):
    k = rnd.randrange(11 if depth < 2 else 7)
    if k == 0:
        return None
    if k == 1:
        return rnd.choice([True, False, 0, 1, -5, 2 ** 63, 1.5, 1e300])
    if k == 2:
        return rnd.choice(TIMES + IPS)
    if k == 3:
        return rnd.choice(["create", "delete", "edit", "node_group", "role", "users", "user_groups",
                           "User revoked.", "Create Node", "Password updated."])
    if k == 4:
        return "".join(rnd.choice("aZ0_-@., {}\"é\\/()") for _ in range(rnd.randrange(12)))
    if k in (5, 6):
        return rnd.choice(["alice", "bob", "x", "u9"])
    if k in (7, 8):
        return {rnd.choice(ODD_KEYS + EVENT_KEYS): _value(rnd, depth + 1) for _ in range(rnd.randrange(4))}
    return [_value(rnd, depth + 1) for _ in range(rnd.randrange(3))]


def _examples() -> list[dict]:
    """An event per catalogue row: v2 (type/what/description/message) and v1 (message only)."""
    out = []
    for r in tpe.catalogue():
        msg = r["example"] or "Something new happened"
        out.append({"message": msg})
        ev = {"message": msg}
        if r["pe_type"]:
            ev["type"] = r["pe_type"].rstrip("*") or "create"
        if r["pe_what"]:
            ev["what"] = r["pe_what"].replace("*", "") or "node"
        if "type" in ev and "what" in ev:
            ev["description"] = f"{ev['type']}_{ev['what']}"
        out.append(ev)
    out += [{"message": "User Jean Jackson (973c0cee-5ed3-11e4-aa15-123b93f75cba) added to role Operators."},
            {"message": "Group Engineers (7dee3acc-5ed4-11e4-aa15-123b93f75cba) removed from role Operators."},
            {"message": 'Created with display name set to "Engineers".'},
            {"message": "User 42bf351c (42bf351c-f9ec-40af-84ad-e976fec7f4bd) logged in."},
            {"type": "delete", "what": "role", "message": "Deleted role Operators"},
            {"type": "delete", "what": "x", "message": "Deleted"},
            {"type": "edit", "what": "user", "description": "edit_user_email", "message": 'Email set to "jean@example.com".'},
            {"type": "frobnicate", "what": "widget"}, {"type": "frobnicate"}, {"what": "widget"},
            {"description": "only_a_description"}, {"message": ""}, {}, {"extra": 1}, {"message": None, "type": None}]
    return out


def _commit(rnd: random.Random, events: list) -> dict:
    """A commit in one API's shape, its object the actor, a user, a group or something else."""
    subj = {"id": rnd.choice(["42bf351c-f9ec-40af-84ad-e976fec7f4bd", "a1", "u9"]),
            "name": rnd.choice(["admin", "Administrator", "kai.evens", "jean"])}
    if rnd.random() < 0.5:
        subj["type"] = rnd.choice(["users", "user", "service"])
    obj = {"id": rnd.choice(["u9", "a1", "42bf351c-f9ec-40af-84ad-e976fec7f4bd", "g1", "b55c209d"]),
           "name": rnd.choice(["jean", "Engineers", "web_servers", "Operators"])}
    c: dict = {"subject": subj, "timestamp": rnd.choice(TIMES[:8]), "events": events}
    if rnd.random() < 0.5:
        c["object"] = obj
    else:
        objs = []
        for _ in range(rnd.choice([0, 1, 1, 1, 2, 3])):
            o = dict(obj, id=rnd.choice(["u9", "a1", "g1", "n1"]))
            if rnd.random() < 0.8:
                o["type"] = rnd.choice(OBJECT_TYPES)
            objs.append(o)
        c["objects"] = objs
    if rnd.random() < 0.6:
        c["ip_address"] = rnd.choice(IPS[:10])
    return c


def _respell(rnd: random.Random, doc: dict, role_of: dict[str, str]) -> dict:
    return {rnd.choice(SPELLINGS[role_of[k]]) if k in role_of and rnd.random() < 0.3 else k: v for k, v in doc.items()}


def _shaped(rnd: random.Random, examples: list[dict]) -> bytes:
    """A test_puppet_enterprise record() with its knobs turned, then some fields changed in type or spelling."""
    events = [dict(rnd.choice(examples)) for _ in range(rnd.choice([1, 1, 2, 3, 4]))]
    commit = _commit(rnd, events)
    service = rnd.choice(["rbac", "classifier", "pe-console", "", None, 5])
    api = rnd.choice(["v1", "v2", "", None])
    r = rnd.random()
    if r < 0.12:  # nulls for some fields
        for k in rnd.sample(list(commit), rnd.randrange(1, len(commit))):
            commit[k] = None
    elif r < 0.3:  # an odd value in one field of the commit
        k = rnd.choice(list(commit) + ["subject", "objects", "object", "timestamp", "ip_address", "events"])
        commit[k] = rnd.choice({"timestamp": TIMES, "ip_address": IPS}.get(k, ODD + [_value(rnd)]))
    elif r < 0.42:  # an odd value in the subject or in an object
        target = commit["subject"] if rnd.random() < 0.5 or not commit.get("objects") else commit["objects"][0]
        target[rnd.choice(["id", "name", "type", "extra", "Id", "NAME"])] = rnd.choice(ODD + OBJECT_TYPES)
    elif r < 0.57:  # an odd value in an event
        i = rnd.randrange(len(events))
        if rnd.random() < 0.2:
            events[i] = rnd.choice(ODD + [_value(rnd)])
        else:
            events[i][rnd.choice(EVENT_KEYS)] = rnd.choice(ODD + [_value(rnd)])
    elif r < 0.7:  # another spelling of a key beside the first, or keys nobody documents
        role = rnd.choice(list(SPELLINGS))
        commit[rnd.choice(SPELLINGS[role])] = rnd.choice(TIMES if role == "timestamp" else IPS if role == "ip_address" else ODD)
        commit[rnd.choice(["extra", "someNewKey", "x-y z", "id", "service"])] = _value(rnd)
    elif r < 0.8:  # keys in another order
        items = list(commit.items())
        rnd.shuffle(items)
        commit = dict(items)
    commit = _respell(rnd, commit, {k: k for k in SPELLINGS})
    shape = rnd.random()
    if shape < 0.75:
        doc = _respell(rnd, {"service_id": service, "api_version": api, "commit": commit},
                       {"service_id": "service_id", "api_version": "api_version", "commit": "commit"})
        if rnd.random() < 0.05:
            doc["service"] = {"id": "svc"}
    elif shape < 0.85:  # a bare commit
        doc = commit
        if rnd.random() < 0.3:
            doc["service"] = rnd.choice([{"id": "rbac"}, {"id": 5}, "rbac", None])
    else:  # a saved response page
        doc = {"commits": [commit] + ([rnd.choice(ODD)] if rnd.random() < 0.2 else [])
               + ([_commit(rnd, [dict(rnd.choice(examples))])] if rnd.random() < 0.5 else []),
               "offset": 0, "limit": 1, "total-rows": 5}
        if rnd.random() < 0.5:
            doc["service_id"] = service
    line = json.dumps(doc).encode()  # spaces after separators too
    if rnd.random() < 0.5:
        try:
            line = orjson.dumps(doc)
        except TypeError:  # an integer beyond 64 bits
            pass
    return line


def _public_samples() -> list[bytes]:
    """config/samples' pages, tests/data/samples' JSON, CSV exports and database rows, as the tests read them."""
    lines = (REPO / "config" / "samples" / "puppet_enterprise" / "activity-api-pages.json").read_bytes().splitlines()
    for p in sorted(SAMPLES.glob("*.json")):
        doc = orjson.loads(p.read_bytes())
        lines.append(orjson.dumps(doc))
        for c in doc.get("commits", []):
            for svc, api in (("classifier", "v1"), ("pe-console", "v2")):
                lines.append(tpe.record(c, svc, api))
            lines.append(orjson.dumps(c))
    for name in ("v1-events.docs-archive-2019.1.csv", "v2-events.docs-current.csv"):
        for row in tpe.csv_rows(SAMPLES / name):
            base = {"subject": {"id": row["Subject Id"], "name": row["Subject Name"], "type": row["Subject Type"]},
                    "objects": [{"id": row["Object Id"], "name": row["Object Name"], "type": row["Object Type"]}],
                    "timestamp": row["Submit Time"]}
            if row.get("Ip Address"):
                base["ip_address"] = row["Ip Address"]
            lines.append(tpe.record({**base, "events": [{"type": row["Type"], "what": row["What"],
                                                         "description": row["Description"], "message": row["Message"]}]},
                                    "classifier"))
            lines.append(tpe.record({**base, "objects": None, "object": base["objects"][0],
                                     "events": [{"message": row["Message"]}]}, "classifier", "v1"))
    for line in (SAMPLES / "pe-activity-db-psql-output.gist.txt").read_text().splitlines()[2:]:
        stamp, subject, obj, message = [x.strip() for x in line.split("|", 3)]
        for ts in (stamp, stamp.replace(" ", "T").replace("+00", "+00:00")):
            lines.append(tpe.record({"subject": {"id": "x", "name": subject}, "object": {"id": obj, "name": obj},
                                     "timestamp": ts, "events": [{"message": message}]}, "rbac", "v1"))
    rows = puppet_enterprise_rows()
    for _, line in rows:
        for r in tpe.catalogue():
            if r["example"] and r["example"] in line:
                lines.append(tpe.record(tpe.v1_commit(r["example"]), api="v1"))
    return lines


BROKEN = [*parser_golden.NOT_RECORDS, b'{"commit": {"timestamp": ',
          b'{"commit": "text"}', b'{"commit": 5}', b'{"commit": null}', b'{"commit": []}', b'{"commits": "x"}',
          b'{"commits": []}', b'{"commits": [1, null, "x", {}]}',
          b'{"service_id": "rbac", "malformed_page": "<html>", "error": "unreadable page"}',
          b'{"malformed_page": 5}', b'{"malformedPage": null, "error": null, "serviceId": ""}',
          b'{"commit": {"subject": {"name": "a"}, "events": [{"message": "x"}]}}',
          b'{"commit": {"subject": {"name": "a"}, "timestamp": "yesterday", "events": [{"message": "x"}]}}',
          b'{"commit": {"subject": {"name": "a"}, "timestamp": "2024-01-01T00:00:00Z", "events": []}}',
          b'{"commit": {"subject": {"name": "a"}, "timestamp": "2024-01-01T00:00:00Z", "events": ["x", 3]}}',
          b'{"commit": {"subject": {"name": "a"}, "timestamp": "2024-01-01T00:00:00Z", "events": {"message": "x"}}}',
          b'{"commit": {"subject": {"name": "a\\u0000b"}, "timestamp": "2024-01-01T00:00:00Z", "events": [{"message": "\\ud800"}]}}',
          b'{"commit": {"subject": {"name": "\xff\xfe"}, "timestamp": "2024-01-01T00:00:00Z", "events": [{"message": "x"}]}}',
          b'prefix {"commit": {}}',
          b'{"commit": {"timestamp": "2024-01-01T00:00:00Z", "timestamp": "2025-01-01T00:00:00Z", "events": [{}]}}']


def golden_lines(n: int = 20_000) -> list[bytes]:
    rnd = random.Random(8)
    examples = _examples()
    lines = list(corpora.puppet_enterprise(n // 2))
    lines += [_shaped(rnd, examples) for _ in range(n // 2 - 1500)]
    for _ in range(1000):  # random objects, at the top and as a commit
        doc = {rnd.choice(ODD_KEYS): _value(rnd) for _ in range(rnd.randrange(9))}
        lines.append(json.dumps(doc if rnd.random() < 0.5 else {"commit": doc}).encode())
    lines += BROKEN
    lines += _public_samples()
    return lines


def golden_bytes(lines: list[bytes]) -> bytes:
    """Twice by one UTC parser (warm = cold), then by a parser in America/New_York (zone-less times)."""
    return parser_golden.output(PuppetEnterpriseParser, lines, [ecs, pemod],
                                (PuppetEnterpriseParser({"timezone": "America/New_York"}),))


def main() -> int:
    return parser_golden.cli(PuppetEnterpriseParser, lambda n, a: corpora.puppet_enterprise(n), floor.puppet_enterprise_mapper,
                             golden_lines, golden_bytes)


if __name__ == "__main__":
    sys.exit(main())
