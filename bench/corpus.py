#!/usr/bin/env python3
"""Realistic audit-log corpora for every product, written to a bench folder (never committed).

    .venv/bin/python bench/corpus.py [--records 1000000] [--out /tmp/shipper-bench] [product ...]

Shapes come from the parsers' tests and tests/data/ (see each generator): every catalogue
action cycles through, users and addresses repeat as they do on a quiet host (a few dozen of each),
timestamps move forward one line at a time. `--distinct` (issue 19): every record its own address
(IPv4, the public and private ranges a busy platform sees), users from a pool of 5,000, ids that do
not repeat — what a memo cannot flatter; written as `NAME-RECORDS-distinct.log`. A file is regenerated only when missing or of another
size (the name carries the record count), so repeated bench runs reuse it.
"""
from __future__ import annotations

import argparse
import csv
import os
import random
import sys
from pathlib import Path
from typing import Callable, Iterator

import orjson

REPO = Path(__file__).resolve().parents[1]
PARSERS = REPO / "plugins" / "parsers"
sys.path.insert(0, str(REPO))

USERS = [f"{n}{i}" for i in range(10) for n in ("alice", "bob", "carol", "dave", "erin")]
IPS = [f"10.{i % 4}.{(i * 7) % 250}.{(i * 13) % 250 + 1}" for i in range(40)]


class _Distinct:
    """Stands in for USERS / IPS when a corpus is written with distinct values (see corpus()):
    `USERS[i % len(USERS)]` then gives one of 5,000 users and `IPS[i % len(IPS)]` an address of its own
    for every i below 2^24, so the generators read the same either way."""

    def __init__(self, n: int, make: Callable[[int], str]):
        self.n, self.make = n, make

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> str:
        return self.make(i)


_DISTINCT_USERS = _Distinct(5000, lambda i: f"{('alice', 'bob', 'carol', 'dave', 'erin')[i % 5]}.{i * 7919 % 5000:04d}")
# i % len: with 2^24 entries every record below 16.7 M has its own address (bijective in i).
_DISTINCT_IPS = _Distinct(1 << 24, lambda i: f"{(11, 10, 172, 84, 192, 31)[i % 6]}.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}")


def _catalogue(name: str) -> list[dict]:
    with open(PARSERS / name, encoding="utf-8") as f:
        return list(csv.DictReader(line for line in f if not line.startswith("#")))


def _clock(i: int, base: int = 1_700_000_000) -> tuple[str, int]:
    """(YYYY-MM-DD HH:MM:SS, epoch s) for record i: one record every ~0.3 s."""
    import time

    t = base + i * 3 // 10
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t)), t


def datameer(n: int) -> Iterator[bytes]:
    """useraction.log as config/samples/datameer/useraction.log writes it: kebab keys, nulls for unused
    fields, the additional fields of each catalogue row (datameer_actions.csv) with plausible values."""
    rows = _catalogue("datameer_actions.csv")
    values = {
        "file-uuid": lambda i: f"5f0c1a2e-8d7b-4c1e-9a11-{i:012x}", "file-path": lambda i: f"/Analytics/Sales/Q{i % 4 + 1}-{i % 97}.wbk",
        "file-type-id": lambda i: "WORKBOOK", "connection-id": lambda i: None, "connection-name": lambda i: None,
        "connection-type-id": lambda i: None, "user-name": lambda i: USERS[(i + 7) % len(USERS)],
        "folder-path": lambda i: f"/Analytics/Team{i % 12}", "group-name": lambda i: f"group{i % 9}",
        "new-owner": lambda i: USERS[(i + 3) % len(USERS)],
    }
    stamp_cache: dict[int, str] = {}
    for i in range(n):
        row = rows[i % len(rows)]
        t = 1_700_000_000 + i * 3 // 10
        ts = stamp_cache.get(t)
        if ts is None:
            stamp_cache.clear()
            ts = stamp_cache[t] = _clock(i)[0]
        doc = {"timestamp": ts, "action-type": row["action_type"], "action": row["action"],
               "performing-user": USERS[i % len(USERS)], "roles": ["ADMIN", "ANALYST"] if i % 5 == 0 else ["ANALYST"],
               "ip-address": IPS[i % len(IPS)]}
        for f in row["additional_fields"].split():
            doc[f] = values.get(f, lambda i, f=f: f"{f}-{i % 1000}")(i)
        yield orjson.dumps(doc)


def databricks(n: int) -> Iterator[bytes]:
    """Azure Databricks: the diagnostic-log line of PT1H.json (insights-logs-*, the usual way audit logs
    reach a host) most of the time, and the other shapes of tests/parsers/databricks_records.py now and then;
    request parameters as the real samples carry them (ids, paths, a nested JSON string)."""
    # The shapes the parser is tested with; from a module without pytest: `make bench-cpu` runs this in the bench's venv
    from tests.parsers import databricks_records as tdb

    rows = tdb.ROWS
    shapes = ["diagnostic"] * 6 + ["diagnostic_strings", "audit_delivery", "system_table", "log_analytics"]
    for i in range(n):
        r = rows[i % len(rows)]
        shape = shapes[i % len(shapes)]
        params = {"clusterId": f"0515-010532-{i % 500:05d}", "notebookFullPath": f"/Users/{USERS[i % len(USERS)]}@example.com/etl-{i % 40}",
                  "commandLanguage": "python", "status": "finished", "executionTime": str(i % 9000 / 1000)}
        raw, _ = tdb.make_record(r["service"], r["action"], shape, n=i, params=params,
                                 email=f"{USERS[i % len(USERS)]}@example.com", ip=f"{IPS[i % len(IPS)]}:0")
        rec = orjson.loads(raw)
        rec[TIME_KEYS[shape]] = _databricks_time(shape, i)
        yield orjson.dumps(rec)


# Where each shape keeps its time, written as each writer does (research/formats.md §Databricks):
# Databricks' own records in seconds, some Azure pipelines with 7-digit fractions, Log Analytics
# always with them, audit delivery in epoch milliseconds, the system table with milliseconds.
TIME_KEYS = {"diagnostic": "time", "diagnostic_strings": "time", "audit_delivery": "timestamp",
             "system_table": "event_time", "log_analytics": "TimeGenerated"}


def _databricks_time(shape: str, i: int) -> str | int:
    text, t = _clock(i)
    frac = f"{i * 7919 % 10_000_000:07d}"  # every record its own fraction, as Azure writes them
    if shape == "audit_delivery":
        return t * 1000 + i % 1000
    if shape == "system_table":
        return f"{text.replace(' ', 'T')}.{frac[:3]}Z"
    if shape == "log_analytics" or i % 4 == 0:
        return f"{text.replace(' ', 'T')}.{frac}Z"
    return text.replace(" ", "T") + "Z"


def posit_connect(n: int, fmt: str = "text") -> Iterator[bytes]:
    """Posit Connect audit log, every documented action (tests/data/vendors/), as TEXT (logfmt, the
    default) or JSON — tests/parsers/posit_connect_records.py's record maker."""
    from tests.parsers import posit_connect_records as tpc  # the parser's tests' records (no pytest)
    from tests.vendor_lists import posit_connect_events

    seed = posit_connect_events()
    rnd = random.Random(1)
    actions = sorted(seed.items())
    for i in range(n):
        a, fields = actions[i % len(actions)]
        rec = tpc.make_record(a, fields, i, i % 5 == 0, rnd)
        yield tpc.as_text(rec, rnd) if fmt == "text" else orjson.dumps(rec)


def cloudera_ai(n: int) -> Iterator[bytes]:
    """Cloudera AI user_events rows as the postgres source (or `row_to_json`) hands them: the
    documented columns, every catalogued event_name, descriptions as in tests/parsers/test_cloudera_ai.py."""
    names = [r["event_name"] for r in _catalogue("cloudera_ai_events.csv")]
    agent = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/51.0.2704.103 Safari/537.36"
    for i in range(n):
        u = USERS[i % len(USERS)]
        yield orjson.dumps({
            "id": i + 1, "user_id": f"3f1b6c8e-0c1e-4a1e-9c55-{i % len(USERS):012d}", "ipaddr": IPS[i % len(IPS)] if i % 20 else "127.0.0.1",
            "user_agent": agent, "event_name": names[i % len(names)],
            "description": f"model: churn-v{i % 7}, model id: {i % 300}, user type: {'ADMIN' if i % 9 == 0 else 'NORMAL'}, username: {u}",
            "created_at": f"{_clock(i)[0].replace(' ', 'T')}.{i % 1000:03d}456"})


def puppet_enterprise(n: int) -> Iterator[bytes]:
    """Puppet Enterprise activity commits as the http_poll source hands them (tests/parsers/test_puppet_enterprise.py's
    record): v2 commits with objects, subject, ip_address and one to three events built from the
    catalogue's examples (type/what/description/message), every kind in turn."""
    rows = [r for r in _catalogue("puppet_enterprise_events.csv") if r["example"]]
    for i in range(n):
        events = []
        for k in range(1 + i % 3):
            r = rows[(i + k) % len(rows)]
            ev = {"message": r["example"]}
            if r["pe_type"]:
                ev["type"] = r["pe_type"]
            if r["pe_what"] and "*" not in r["pe_what"]:
                ev["what"] = r["pe_what"]
                ev["description"] = f"{r['pe_type']}_{r['pe_what']}"
            events.append(ev)
        u = USERS[i % len(USERS)]
        commit = {"objects": [{"id": f"973c0cee-5ed3-11e4-aa15-{i % 5000:012d}", "name": f"Group {i % 30}",
                               "type": rows[i % len(rows)]["object_type"] or "node_groups"}],
                  "subject": {"id": f"42bf351c-f9ec-40af-84ad-{i % len(USERS):012d}", "name": u, "type": "users"},
                  "timestamp": _clock(i)[0].replace(" ", "T") + "Z", "ip_address": IPS[i % len(IPS)], "events": events}
        yield orjson.dumps({"service_id": ["classifier", "rbac"][i % 2], "api_version": "v2", "commit": commit})


PRODUCTS: dict[str, tuple[str, Callable[[int], Iterator[bytes]]]] = {
    # corpus name: (parser, generator)
    "datameer": ("datameer", datameer),
    "databricks": ("databricks", databricks),
    "posit_connect_text": ("posit_connect", lambda n: posit_connect(n, "text")),
    "posit_connect_json": ("posit_connect", lambda n: posit_connect(n, "json")),
    "cloudera_ai": ("cloudera_ai", cloudera_ai),
    "puppet_enterprise": ("puppet_enterprise", puppet_enterprise),
}


# A generator's output changed: its files get a new name, so no bench reuses an old corpus.
GENERATOR_VERSION = {"databricks": 2}  # 2: times move forward, in each shape's own format


def corpus(name: str, records: int, out: Path, distinct: bool = False) -> Path:
    """The corpus file for `name` with `records` lines, generated if missing; `distinct`: every record
    its own address, 5,000 users (see _Distinct)."""
    global USERS, IPS
    out.mkdir(parents=True, exist_ok=True)
    version = GENERATOR_VERSION.get(name, 1)
    path = out / (f"{name}-{records}.log" if version == 1 else f"{name}-{records}-v{version}.log")
    if distinct:
        path = path.with_name(path.stem + "-distinct.log")
    if path.exists():
        return path
    tmp = path.with_suffix(".tmp")
    gen = PRODUCTS[name][1]
    saved = USERS, IPS
    if distinct:
        USERS, IPS = _DISTINCT_USERS, _DISTINCT_IPS  # type: ignore[assignment]
    try:
        _write(tmp, gen, records)
    finally:
        USERS, IPS = saved
    os.replace(tmp, path)
    return path


def _write(tmp: Path, gen: Callable[[int], Iterator[bytes]], records: int) -> None:
    with open(tmp, "wb", buffering=1 << 20) as f:
        buf: list[bytes] = []
        for line in gen(records):
            buf.append(line)
            if len(buf) >= 10_000:
                f.write(b"\n".join(buf) + b"\n")
                buf.clear()
        if buf:
            f.write(b"\n".join(buf) + b"\n")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--out", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "shipper-bench" / "corpus")
    ap.add_argument("--distinct", action="store_true", help="every record its own address, 5,000 users")
    ap.add_argument("products", nargs="*", default=list(PRODUCTS))
    a = ap.parse_args()
    for name in a.products:
        p = corpus(name, a.records, a.out, a.distinct)
        size = p.stat().st_size
        print(f"{p}  {size / 1e6:.0f} MB  {size / a.records:.0f} B/line")
    return 0


if __name__ == "__main__":
    sys.exit(main())
