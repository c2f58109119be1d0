#!/usr/bin/env python3
"""Backfill with a source's `parse_workers` 0, 2 and auto (the default), beside the Python floor, in one run.

    .venv/bin/python bench/parse_workers.py                      # 1 M Datameer and Databricks records
    .venv/bin/python bench/parse_workers.py --records 300000 --products datameer

Also a scenario of bench/run.py (`--only parse_workers`). `shipper run --once`, file → parser →
stdout redirected to a file. The agent is more than one process with workers (the agent, the
forkserver, the workers), so CPU and memory are sampled from /proc over the whole process tree
every 0.1 s: CPU = user+sys of every process at its last sample, RSS = peak of the sum over the
tree (pages shared after the fork counted in each: an upper bound), PSS = peak of the sum of
proportional set sizes (shared pages split between their users: what the tree really costs).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
import corpus as corpora  # noqa: E402
from tree_time import _descendants, _memory  # noqa: E402

PY = sys.executable
SHIPPER = [str(Path(PY).with_name("shipper"))] if Path(PY).with_name("shipper").exists() else [PY, "-m", "shipper.cli"]
TARGETS = {"datameer": 0.7, "databricks": 0.6}
TICK = os.sysconf("SC_CLK_TCK")


def _sample(pid: int) -> tuple[float, float, float] | None:
    """(CPU s, RSS MiB, PSS MiB) of one process, None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, ValueError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / TICK, *_memory(pid)


def measured_tree(cmd: list[str], stdout_path: Path) -> tuple[float, float, float, float, int]:
    """Run to the end: (wall s, CPU s of the tree, peak RSS MiB, peak PSS MiB, processes seen)."""
    cpu: dict[int, float] = {}
    peak_rss = peak_pss = 0.0
    with open(stdout_path, "wb") as out:
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.PIPE)
        err: list[bytes] = []
        threading.Thread(target=lambda: err.extend(p.stderr), daemon=True).start()
        while p.poll() is None:
            rss = pss = 0.0
            for pid in [p.pid, *_descendants(p.pid)]:
                s = _sample(pid)
                if s is not None:
                    cpu[pid] = s[0]
                    rss += s[1]
                    pss += s[2]
            peak_rss, peak_pss = max(peak_rss, rss), max(peak_pss, pss)
            time.sleep(0.1)
        wall = time.perf_counter() - t0
    if p.returncode != 0:
        raise RuntimeError(f"{cmd} exited {p.returncode}: {b''.join(err[-20:]).decode(errors='replace')}")
    return wall, sum(cpu.values()), peak_rss, peak_pss, len(cpu)


def count_lines(path: Path) -> int:
    n = 0
    with open(path, "rb") as f:
        while b := f.read(1 << 22):
            n += b.count(b"\n")
    return n


def run(products: list[str], records: int, out: Path, workers=(0, 2, "auto"), say=print) -> None:
    say("### Backfill with `parse_workers` (worker processes per source)\n")
    say(f"{records:,} records per corpus; `shipper run --once`, file → parser → stdout redirected to a file; "
        "ev/s = events out / wall time of the whole run (start-up and end-of-input settle included); "
        "CPU, RSS and PSS over the whole process tree (agent + forkserver + workers), sampled every 0.1 s. "
        "Ratio = shipper / floor, the floor measured in the same run.\n")
    say("| corpus | floor ev/s | parse_workers | shipper ev/s | **shipper / floor** | target | speed-up vs the first "
        "| CPU µs/ev (tree) | peak RSS MiB (tree, sum) | peak PSS MiB (tree) | processes |")
    say("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    out.mkdir(parents=True, exist_ok=True)
    for name in products:
        path = corpora.corpus(name, records, out / "corpus")
        parser = corpora.PRODUCTS[name][0]
        scratch = out / "parse_workers.out"
        t0 = time.perf_counter()
        subprocess.run([PY, str(BENCH / "floor.py"), "floor", name, str(path), str(scratch)], check=True)
        floor = count_lines(scratch) / (time.perf_counter() - t0)
        base = None
        for n in workers:
            state = out / f"state-pw-{name}-{n}"
            subprocess.run(["rm", "-rf", str(state)], check=True)
            cfg = out / f"parse-workers-{name}-{n}.yaml"
            cfg.write_text(f"state_dir: {state}\nsources:\n  - name: {name}\n    type: file\n    paths: [{path}]\n"
                           f"    parser: {parser}\n    parse_workers: {n}\noutputs:\n  - type: stdout\n")
            wall, cpu, rss, pss, procs = measured_tree([*SHIPPER, "run", "--once", "-c", str(cfg)], scratch)
            events = count_lines(scratch)
            rate = events / wall
            base = base or rate  # the first value given (0 by default): the speed-up is against it
            target = f"≥ {TARGETS[name]}" if name in TARGETS else ""
            say(f"| {name} | {floor:,.0f} | {n} | {rate:,.0f} | **{rate / floor:.2f}** | {target} | {rate / base:.2f}× "
                f"| {cpu / events * 1e6:.1f} | {rss:.0f} | {pss:.0f} | {procs} |")
        scratch.unlink(missing_ok=True)
    say()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--products", default="datameer,databricks")
    ap.add_argument("--workers", default="0,2,auto", help="comma-separated parse_workers values")
    ap.add_argument("--out", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "shipper-bench")
    a = ap.parse_args()
    run(a.products.split(","), a.records, a.out, [w if w == "auto" else int(w) for w in a.workers.split(",")])
    return 0


if __name__ == "__main__":
    sys.exit(main())
