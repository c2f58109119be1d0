#!/usr/bin/env python3
"""The Databricks parser alone: a golden corpus to prove a speed change altered no output byte, and
µs/record of parse_batch (+ orjson.dumps, what the pipeline does with each event) beside the floor.

    .venv/bin/python bench/parsers_databricks_profile.py golden --write /tmp/databricks.golden   # before a change
    .venv/bin/python bench/parsers_databricks_profile.py golden --check /tmp/databricks.golden   # after each change
    .venv/bin/python bench/parsers_databricks_profile.py time [--records 100000]

CPU instructions per record (steady on a shared host, unlike wall time), the corpus alone subtracted:

    PYTHONHASHSEED=0 valgrind --tool=cachegrind --cache-sim=no .venv/bin/python bench/parsers_databricks_profile.py count [--json|--floor]
    (and again with --rounds 0: the difference / --records (10 k) is the instructions per record of parse_batch
    + dumps, or of loads + dumps alone (--json), or of bench/floor.py's loop (--floor))

The golden corpus (~20 k lines, seeded, so the same on every run): bench/corpus.py's backfill mix, every
shape of tests/parsers/test_databricks.py with string and object identity/requestParams/response, statuses, errors,
ports, IPv6, non-addresses, truncation markers, System-User and service principals, unknown pairs, two
spellings of one field, odd types in every role, random objects, broken JSON, blank lines, the public
samples. `now_iso` is pinned while the golden file is made and checked: records without a readable time
get the clock, which is no output byte of the parser's.
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

import shipper_plugins.parsers.databricks as dbmod
from shipper import ecs
from shipper_plugins.parsers.databricks import DatabricksParser
from tests.parsers import test_databricks as tdb

ROLE_KEYS = ["time", "TimeGenerated", "timestamp", "event_time", "identity", "Identity", "userIdentity",
             "user_identity", "serviceName", "ServiceName", "service_name", "actionName", "ActionName",
             "action_name", "logId", "LogId", "event_id", "sourceIPAddress", "SourceIpAddress", "source_ip_address",
             "userAgent", "UserAgent", "user_agent", "response", "Response", "requestParams", "RequestParams",
             "request_params", "identity_metadata", "properties", "records", "operationName", "OperationName",
             "resourceId", "ResourceId", "category", "Category", "requestId", "sessionId", "workspaceId",
             "someNewKey", "HTTPStatus", "already_snake", "x-y z", ""]


def _value(rnd: random.Random, depth: int = 0):
    k = rnd.randrange(12 if depth < 2 else 8)
    if k == 0:
        return None
    if k == 1:
        return rnd.choice([True, False])
    if k == 2:
        return rnd.choice([0, 200, 403, 1700000000123, 1715788715, -5, 2 ** 70, 10 ** 20])
    if k == 3:
        return rnd.choice([1.5, 200.0, 1.7e12, float(2 ** 60)])
    if k == 4:
        return rnd.choice(["", " ", "2025-05-15T15:58:35Z", "2019-05-01 00:18:58.1234567", "1700000000123",
                           " 1715788715 ", "yesterday", "2025-13-45T00:00:00Z", "10.0.0.1:443", "::1", "[2001:db8::1]:80",
                           "System-User", "ada@example.com", "x... truncated", "Microsoft.Databricks/jobs/create",
                           "microsoft.databricks/Clusters/Delete", "Microsoft.Databricks//x", "/subscriptions/abc/rg",
                           "{\"email\": \"bob@x.y\", \"subjectName\": null}", "{broken", "[1,2]", "{\"statusCode\": \"404\"}"])
    if k == 5:
        return "".join(rnd.choice("aZ0_-@. {}\"é") for _ in range(rnd.randrange(12)))
    if k in (6, 7):
        return rnd.choice([200, "jobs", "create", "clusters", "x"])
    if k in (8, 9):
        return {rnd.choice(ROLE_KEYS + ["email", "statusCode", "status_code", "errorMessage", "error_message", "result",
                                        "run_as", "run_by", "TRUNCATED", "a"]): _value(rnd, depth + 1)
                for _ in range(rnd.randrange(5))}
    return [_value(rnd, depth + 1) for _ in range(rnd.randrange(3))]


def _shaped(rnd: random.Random, i: int) -> bytes:
    """A make_record line with its knobs turned, then some fields changed in type or spelling."""
    row = tdb.ROWS[i % len(tdb.ROWS)] if i % 7 else {"service": "newService", "action": f"doSomething{i % 3}"}
    shape = tdb.SHAPES[i % len(tdb.SHAPES)]
    params = rnd.choice([None, {}, {"TRUNCATED": ""}, {"a": "x... truncated", "b": None},
                         {"name": f"n{i}", "nested": '{"a":1}', "n": i}, {"k": [1, {"x": None}]}])
    raw, _ = tdb.make_record(row["service"], row["action"], shape, n=i,
                             status=rnd.choice([200, 201, 204, 400, 403, 404, 500, "200", "abc", " 302 "]),
                             email=rnd.choice(["ada@example.com", "System-User", "bob", "", "5b3f2f1e-0000-4000-8000-000000000001"]),
                             ip=rnd.choice([None, "", "10.1.2.3:0", "10.1.2.3", "::1", "[2001:db8::1]:443", "not-an-ip",
                                            "::ffff:10.0.0.1", " 10.0.0.2 "]),
                             params=params, error=rnd.choice([None, None, "boom", ""]))
    if rnd.random() < 0.5:
        return raw
    doc = orjson.loads(raw)
    rec = doc["records"][0] if "records" in doc else doc
    target = rec["properties"] if isinstance(rec.get("properties"), dict) and rnd.random() < 0.6 else rec
    for _ in range(rnd.randrange(1, 4)):
        target[rnd.choice(ROLE_KEYS)] = _value(rnd)
    if rnd.random() < 0.1 and "properties" in rec:
        rec["properties"] = json.dumps(rec["properties"])
    if rnd.random() < 0.05:
        doc = [rec, rec, "x"]
    return json.dumps(doc).encode()


def golden_lines(n: int = 20_000) -> list[bytes]:
    rnd = random.Random(8)
    lines = list(corpora.databricks(n // 2))
    lines += [_shaped(rnd, i) for i in range(n // 2 - 1000)]
    for _i in range(800):
        doc = {rnd.choice(ROLE_KEYS): _value(rnd) for _ in range(rnd.randrange(8))}
        lines.append(json.dumps(doc).encode())
    lines += parser_golden.NOT_RECORDS
    lines += [b"  \n", b'{"time": "2025-01-01T00:00:00Z", "properties": {', b"[1, null, {}]",
              b'{"records": []}', b'{"records": [1, "a", null, {}]}',
              b'{"records": [], "time": 5}', b'{"properties": "{\\"serviceName\\": \\"jobs\\"}"}']
    for path in sorted((Path(tdb.__file__).parent / "data" / "samples" / "azure_databricks").glob("*.js*")):
        lines.append(path.read_bytes())
    for path in sorted((REPO / "config" / "samples" / "databricks").rglob("*.json")):
        lines += path.read_bytes().splitlines()
    return lines


def golden_bytes(lines: list[bytes]) -> bytes:
    return parser_golden.output(DatabricksParser, lines, [ecs, dbmod])


def main() -> int:
    return parser_golden.cli(DatabricksParser, lambda n, a: corpora.databricks(n), floor.databricks_mapper, golden_lines, golden_bytes)


if __name__ == "__main__":
    sys.exit(main())
