"""What the integrity chain costs (issue 18): `shipper run --once` over one Datameer corpus to stdout,
with and without `integrity`, in alternating rounds; then `shipper verify` over the sealed output.

Parsing stays in the source's thread (`parse_workers: 0`) so that the children's rusage holds all of the
agent's CPU (parse workers are the forkserver's children, which rusage misses); events/s is wall-clock
to exit; the last rows are `Chain.seal` alone in this process (the best of 5 passes over the events the
agent wrote without integrity) and `shipper verify` of the sealed output.
Run: .venv/bin/python bench/integrity.py [--records 200000] [--rounds 3]
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpus import corpus  # noqa: E402

SHIPPER = [sys.executable, "-m", "shipper.cli"]


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _timed(cmd: list[str], stdout) -> tuple[float, float]:
    cpu0, t0 = _children_cpu(), time.perf_counter()
    subprocess.run(cmd, stdout=stdout, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - t0, _children_cpu() - cpu0


def _seal_cpu(plain: Path, rounds: int = 5) -> float:
    """CPU µs an event of sealing alone (the best of `rounds`), on the events the agent wrote without integrity."""
    import orjson

    from shipper.integrity import Chain, Key

    events = [orjson.loads(line) for line in plain.read_bytes().splitlines()]
    key = Key.from_text("bench key 0123456789abcdef")
    best = float("inf")
    for _ in range(rounds):
        chain = Chain(key, "bench/dm")
        t0 = time.process_time()
        for e in events:
            chain.seal(e)
        best = min(best, time.process_time() - t0)
    return best / len(events) * 1e6


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=200_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", default="/tmp/shipper-bench/integrity")
    args = ap.parse_args()
    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    log = corpus("datameer", args.records, out)
    (out / "key").write_text("bench key 0123456789abcdef\n")
    results: dict[str, list[tuple[float, float]]] = {"without": [], "with": []}
    for r in range(args.rounds):
        for mode in ("without", "with"):
            cfg = out / f"{mode}.yaml"
            state = out / f"state-{mode}-{r}"
            cfg.write_text(f"""
state_dir: {state}
{'integrity: {key_file: key}' if mode == 'with' else ''}
sources:
  - {{name: dm, type: file, paths: [{log}], parser: datameer, parse_workers: 0}}
outputs:
  - type: stdout
""")
            sink = out / f"out-{mode}.jsonl"
            with open(sink, "wb") as f:
                results[mode].append(_timed(SHIPPER + ["run", "--once", "-c", str(cfg)], f))
    n = args.records
    print(f"| {n:,} Datameer records, {args.rounds} rounds (median) | events/s | CPU µs/event (process tree) |")
    print("|---|---|---|")
    for mode in ("without", "with"):
        wall = statistics.median(w for w, _ in results[mode])
        cpu = statistics.median(c for _, c in results[mode])
        print(f"| integrity {mode} | {n / wall:,.0f} | {cpu / n * 1e6:.1f} |")
    print(f"| Chain.seal alone, in this process, over those events | | {_seal_cpu(out / 'out-without.jsonl'):.1f} |")
    (out / "verify.key").write_text("bench key 0123456789abcdef\n")
    wall, cpu = _timed(SHIPPER + ["verify", "--key-file", str(out / "verify.key"), str(out / "out-with.jsonl")],
                       subprocess.DEVNULL)
    print(f"| shipper verify of that output ({os.cpu_count()} CPUs) | {n / wall:,.0f} | {cpu / n * 1e6:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
