#!/usr/bin/env python3
"""Issue 19's per-batch path: CPU of one checkpoint commit (`CheckpointStore.update`), in the calling thread
and in the writer process, and its wall time.

    .venv/bin/python bench/checkpoint_commit.py                       # 3 rounds of 3,000 commits
    .venv/bin/python bench/checkpoint_commit.py --commits 10000 --rounds 5

Every batch a source emits is committed once its outputs acknowledged it: a file source following many
quiet files emits batches of a few lines each, so this cost is paid every few events (bench/live_cost.py).
The fragment is one followed file's state, as the file source writes it. The caller's CPU is its thread's
(time.thread_time), the writer's is read from /proc (user + sys) before and after; both per commit, the
median of the rounds. The state_dir is a fresh temporary folder (removed at the end).
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from shipper.checkpoint import CheckpointStore  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
FRAGMENT = {"/var/log/app/audit-007.log": {"offset": 123456, "ident": [2049, 1234567], "head": "0123456789abcdef"}}


def process_cpu(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return [int(p) for p in f.read().split()]


def measure(commits: int, rounds: int) -> dict[str, float]:
    state_dir = tempfile.mkdtemp(prefix="shipper-commit-")
    store = CheckpointStore(state_dir)
    try:
        store.update("src", FRAGMENT)  # the writer is up and the row exists: every commit below is an update
        writers = children(os.getpid())
        got: dict[str, list[float]] = {"wall_us": [], "caller_us": [], "writer_us": []}
        for _ in range(rounds):
            w0, t0, c0 = sum(map(process_cpu, writers)), time.perf_counter(), time.thread_time()
            for _ in range(commits):
                store.update("src", FRAGMENT)
            c1, t1, w1 = time.thread_time(), time.perf_counter(), sum(map(process_cpu, writers))
            got["wall_us"].append((t1 - t0) / commits * 1e6)
            got["caller_us"].append((c1 - c0) / commits * 1e6)
            got["writer_us"].append((w1 - w0) / commits * 1e6)
        return {k: statistics.median(v) for k, v in got.items()}
    finally:
        store.close()
        shutil.rmtree(state_dir, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--commits", type=int, default=3000)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    r = measure(a.commits, a.rounds)
    print(f"`bench/checkpoint_commit.py --commits {a.commits} --rounds {a.rounds}` (medians, µs per commit)\n")
    print("| wall | CPU, calling thread | CPU, writer process | CPU, both |")
    print("|---:|---:|---:|---:|")
    print(f"| {r['wall_us']:.0f} | {r['caller_us']:.0f} | {r['writer_us']:.0f} | {r['caller_us'] + r['writer_us']:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
