#!/usr/bin/env python3
"""Issue 19: instructions per record of what a source parsing in its thread does for a stdout route (parse,
enrich, serialise the batch: shipper.parse_workers.serialise), beside the bare loop on the same lines, counted by
cachegrind (instructions do not drift with a neighbour's load, as CPU time does).

    .venv/bin/python bench/instructions.py                       # every product, 5,000 records of the --distinct corpora
    .venv/bin/python bench/instructions.py --products datameer --records 2000

Per product and contender, two runs under `valgrind --tool=cachegrind --cache-sim=no` (PYTHONHASHSEED=0): one
doing the work once over the records, one not at all (imports, corpus, set-up); the difference / records is the
instructions per record. Both runs first do the same work over `--warm` other records of the corpus (default: as
many): what a long-running agent pays once (fnmatch's and the regexes' compiling, the memos' first entries)
is then not spread over the few records counted (session 6 counted cold). The bare loop is bench/floor.py's
(orjson.loads, a small dict, orjson.dumps) without its file I/O; shipper's side is the source's EventBuilder (its
parser, host, agent, tags, id parts) over
file-source batches of 1,000 lines, each batch serialised to NDJSON at once (no index keys: stdout reads none),
the runner's GC settings. `--detail` also counts the parser's parse_batch alone (loads + mapping, no enrich),
orjson.dumps of the finished events alone (built before counting) — shipper's total less these two is
EventBuilder's enrich and the freeing of the events — and the dict path (`EventBuilder.build`, then a dumps
of each event, as for an output that takes dicts: it also counts every record's brackets, ~7,400
instructions of a 270-byte line). `--work loads` counts orjson.loads of the lines alone.
"""
from __future__ import annotations

import argparse
import compileall
import gc
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent))
from cpu_per_event import ENV, compile_agent  # noqa: E402

PRODUCTS = ["datameer", "databricks", "posit_connect_json", "cloudera_ai", "puppet_enterprise"]
GOAL = {"datameer": 4.0}  # × the bare loop; 5 × for the others


def _lines(product: str, records: int, out: Path) -> list[bytes]:
    import corpus as corpora
    path = corpora.corpus(product, records, out / "corpus", distinct=True)
    return path.read_bytes().splitlines()


def work(product: str, records: int, out: Path, contender: str, rounds: int, warm: int) -> None:
    """What runs under cachegrind: the contender over the first `warm` records, then `rounds` passes (0 or 1)
    over the next `records` (distinct corpora: the warm pass's memo entries do not flatter them)."""
    import corpus as corpora
    import floor
    import orjson

    from shipper import registry
    from shipper.config_base import SourceConfig
    from shipper.events import EventBuilder
    from shipper.parse_workers import serialise
    from shipper.plugin import ParserOptions, RawBatch

    everything = _lines(product, warm + records, out)
    cfg = SourceConfig(name=product, type="file", parser=corpora.PRODUCTS[product][0])
    builder = EventBuilder(cfg, registry.load("parser", cfg.parser)(ParserOptions(timezone=cfg.timezone, source=cfg.name)), "bench-host")
    dumps, loads, host = orjson.dumps, orjson.loads, floor.HOST
    gc.collect()
    gc.freeze()
    gc.set_threshold(100_000, 50, 1000)  # shipper.runner's settings
    for lines, passes in ((everything[:warm], 1), (everything[warm:], rounds)):
        batches = [RawBatch(lines[i:i + 1000], [str(j) for j in range(i, min(i + 1000, len(lines)))], {},
                            sum(map(len, lines[i:i + 1000]))) for i in range(0, len(lines), 1000)]
        built = [ev for raw in batches for ev in builder.build(raw)[0]] if contender == "dumps" else []
        for _ in range(passes):
            _one_pass(contender, lines, batches, built, builder, dumps, loads, host, serialise)


def _one_pass(contender, lines, batches, built, builder, dumps, loads, host, serialise) -> None:
    if contender == "bare":
        for line in lines:
            dumps({"@timestamp": "2026-01-01T00:00:00.000Z", "host": host, "log": loads(line)})
    elif contender == "parse":  # the parser alone: no enrich, no dumps
        parse_batch = builder.parser.parse_batch
        for raw in batches:
            parse_batch(raw.records)
    elif contender == "loads":  # what shipper's parsers pay to read the line
        for line in lines:
            loads(line)
    elif contender == "dumps":  # what the output pays for the events shipper made (built before counting)
        for ev in built:
            dumps(ev)
    elif contender == "build":  # the events as dicts, each dumped (an output's thread does it for Fluentd)
        for raw in batches:
            events, _ids = builder.build(raw)
            for ev in events:
                dumps(ev)
    else:  # what a source parsing in its thread does for a stdout route: the batch serialised at once
        for raw in batches:
            serialise(builder, raw, False)


def count(product: str, records: int, out: Path, contender: str, warm: int) -> float:
    """Instructions per record of one contender: cachegrind's total with one pass minus that with none."""
    totals = []
    for rounds in (0, 1):
        with tempfile.TemporaryDirectory() as tmp:
            p = subprocess.run(["valgrind", "--tool=cachegrind", "--cache-sim=no", f"--cachegrind-out-file={tmp}/cg.out",
                                sys.executable, __file__, "--work", contender, "--rounds", str(rounds), "--records",
                                str(records), "--warm", str(warm), "--out", str(out), "--products", product],
                               env={**ENV, "PYTHONHASHSEED": "0"}, stderr=subprocess.PIPE, text=True)
        m = re.search(r"I\s+refs:\s+([\d,]+)", p.stderr)
        if p.returncode != 0 or not m:
            raise SystemExit(f"{product} {contender} failed:\n{p.stderr[-3000:]}")
        totals.append(int(m.group(1).replace(",", "")))
    return (totals[1] - totals[0]) / records


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=5000)
    ap.add_argument("--products", default=",".join(PRODUCTS))
    ap.add_argument("--warm", type=int, help="records worked over before counting, in both runs (default: --records)")
    ap.add_argument("--out", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "shipper-bench")
    ap.add_argument("--bare", type=lambda s: [float(x) for x in s.split(",")],
                    help="the bare loop's counts per product from an earlier run (it does not change with shipper)")
    ap.add_argument("--detail", action="store_true",
                    help="also parse_batch, and dumps of the finished events, each alone")
    ap.add_argument("--work", choices=["bare", "shipper", "build", "parse", "loads", "dumps"], help=argparse.SUPPRESS)  # the run under cachegrind
    ap.add_argument("--rounds", type=int, default=1, help=argparse.SUPPRESS)
    a = ap.parse_args()
    products = a.products.split(",")
    warm = a.records if a.warm is None else a.warm
    if a.work:
        work(products[0], a.records, a.out, a.work, a.rounds, warm)
        return 0
    # The agent's bytecode written before any count: a module compiled in one run of a pair and not in the other
    # (its source changed since, by an edit or a rebase) put its compiling in the difference (negative counts seen).
    compile_agent()
    # ... and this folder's, which the runs import (corpus, floor, cpu_per_event): one compiled in the first run
    # only (none yet, or its source changed by a rebase) took 10-20 k instructions a record off the difference.
    compileall.compile_dir(BENCH, quiet=1, maxlevels=0)
    for product in products:  # written before cachegrind runs, so that no run pays for writing it
        _lines(product, warm + a.records, a.out)
    extra = (" parse_batch alone (loads + mapping) | dumps of the events alone | enrich + freeing (the rest) "
             "| dict path (build, dumps per event) |") if a.detail else ""
    print(f"| corpus ({a.records:,} records, --distinct) | bare loop | shipper, serialised in the thread | × bare | goal |{extra}")
    print("|---|---:|---:|---:|---:|" + "---:|" * (4 if a.detail else 0))
    for product in products:
        bare = count(product, a.records, a.out, "bare", warm) if a.bare is None else a.bare[products.index(product)]
        ship = count(product, a.records, a.out, "shipper", warm)
        row = f"| {product} | {bare:,.0f} | {ship:,.0f} | **{ship / bare:.1f}** | ≤ {GOAL.get(product, 5.0):g} |"
        if a.detail:
            parse, dumps = count(product, a.records, a.out, "parse", warm), count(product, a.records, a.out, "dumps", warm)
            row += f" {parse:,.0f} | {dumps:,.0f} | {ship - parse - dumps:,.0f} | {count(product, a.records, a.out, 'build', warm):,.0f} |"
        print(row, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
