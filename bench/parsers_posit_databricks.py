#!/usr/bin/env python3
"""Throughput of the Databricks and Posit Connect parsers against a floor: orjson loads + dumps of
the same lines (what any JSON-in, JSON-out stage costs at least). Issue 8 asks the Databricks parser
for at least 0.6x the floor.

    .venv/bin/python bench/parsers_posit_databricks.py [--lines 20000]

Lines: every catalogue action once in each record shape (tests/parsers/test_databricks.py's generator), and
every documented Posit Connect action as TEXT and JSON, cycled to --lines.
"""
from __future__ import annotations

import argparse
import os
import random
import sys
import time

import orjson

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from shipper_plugins.parsers.databricks import DatabricksParser  # noqa: E402
from shipper_plugins.parsers.posit_connect import PositConnectParser  # noqa: E402
from tests.parsers import (
    test_databricks as tdb,  # noqa: E402
    test_posit_connect as tpc,  # noqa: E402
)
from tests.vendor_lists import posit_connect_events  # noqa: E402


def rate(fn, lines, rounds=3) -> float:
    best = 0.0
    for _ in range(rounds):
        t0 = time.perf_counter()
        for line in lines:
            fn(line)
        best = max(best, len(lines) / (time.perf_counter() - t0))
    return best


def floor(line: bytes) -> None:
    orjson.dumps(orjson.loads(line))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=20000)
    n = ap.parse_args().lines

    db_lines = [tdb.make_record(r["service"], r["action"], shape, n=i)[0]
                for shape in tdb.SHAPES for i, r in enumerate(tdb.ROWS)]
    db_lines = (db_lines * (n // len(db_lines) + 1))[:n]
    seed = posit_connect_events()
    rnd = random.Random(1)
    recs = [tpc.make_record(a, f, i, i % 5 == 0, rnd) for i, (a, f) in enumerate(sorted(seed.items()))]
    pc_text = [tpc.as_text(r, rnd) for r in recs]
    pc_json = [orjson.dumps(r) for r in recs]
    pc_text = (pc_text * (n // len(pc_text) + 1))[:n]
    pc_json = (pc_json * (n // len(pc_json) + 1))[:n]

    dbp, pcp = DatabricksParser(), PositConnectParser()

    def run(parser):
        def one(line):
            for ev in parser.parse(line):
                orjson.dumps(ev)
        return one

    print(f"{'input':<28}{'floor lines/s':>15}{'parser lines/s':>16}{'ratio':>8}")
    for name, lines, p in (("databricks (6 shapes)", db_lines, dbp), ("posit_connect JSON", pc_json, pcp)):
        f, r = rate(floor, lines), rate(run(p), lines)
        print(f"{name:<28}{f:>15,.0f}{r:>16,.0f}{r / f:>8.2f}")
    r = rate(run(pcp), pc_text)
    print(f"{'posit_connect TEXT':<28}{'-':>15}{r:>16,.0f}{'-':>8}")


if __name__ == "__main__":
    main()
