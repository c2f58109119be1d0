#!/usr/bin/env python3
"""Issue 19's per-batch path: CPU of one checkpoint commit (`CheckpointStore.update`), in the calling thread
and in the writer process, and its wall time.

    .venv/bin/python bench/checkpoint_commit.py                       # 3 rounds of 3,000 commits
    .venv/bin/python bench/checkpoint_commit.py --commits 10000 --rounds 5
    .venv/bin/python bench/checkpoint_commit.py --durability --dir /var/lib/shipper-bench   # issue 13
    .venv/bin/python bench/checkpoint_commit.py --wal-pages 1000,64 --dir /var/lib/shipper-bench   # issue 13

`--durability` (the state_dir's durability, issue 13): the writer's own update (checkpoint_db.CheckpointDb, in
this process) with SQLite's synchronous=NORMAL (shipper's: the WAL is synced only at its checkpoints, so a
power cut or a failed filesystem loses the commits the kernel had not written back) against FULL (the WAL
synced at every commit), and the cost of one fsync of the WAL (what a periodic sync pays once per period).
Run it on the filesystem the state_dir is on (`--dir`): a tmpfs syncs for nothing.

`--wal-pages A,B` (the WAL's size, issue 13): the writer's own update, as in --durability (synchronous=NORMAL),
with SQLite's wal_autocheckpoint at each number of pages in turn, round after round (alternating, so the host's load
weighs on both alike): a smaller WAL is checkpointed more often, and every checkpoint syncs the WAL and the database.

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

import orjson  # noqa: E402

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


def measure_durability(commits: int, rounds: int, parent: str | None) -> dict[str, dict[str, float]]:
    """Per synchronous mode: the writer's wall and CPU µs per update; and the µs of one fsync of the WAL."""
    from shipper.checkpoint_db import CheckpointDb

    rows = [(k, orjson.dumps(v)) for k, v in FRAGMENT.items()]
    out: dict[str, dict[str, float]] = {}
    for mode in ("NORMAL", "FULL"):
        state_dir = tempfile.mkdtemp(prefix="shipper-durability-", dir=parent)
        db = CheckpointDb(state_dir, os.getpid())
        try:
            db._db.execute(f"PRAGMA synchronous={mode}")
            db.update("src", rows, time.time())
            got: dict[str, list[float]] = {"wall_us": [], "cpu_us": [], "fsync_us": []}
            for _ in range(rounds):
                t0, c0 = time.perf_counter(), time.process_time()
                for _ in range(commits):
                    db.update("src", rows, time.time())
                c1, t1 = time.process_time(), time.perf_counter()
                got["wall_us"].append((t1 - t0) / commits * 1e6)
                got["cpu_us"].append((c1 - c0) / commits * 1e6)
                db.update("src", rows, time.time())  # something unsynced in the WAL, then one sync of it
                fd = os.open(db.path + "-wal", os.O_RDONLY)
                try:
                    t0 = time.perf_counter()
                    os.fsync(fd)
                    got["fsync_us"].append((time.perf_counter() - t0) * 1e6)
                finally:
                    os.close(fd)
            out[mode] = {k: statistics.median(v) for k, v in got.items()}
        finally:
            db.close(clean=True)
            shutil.rmtree(state_dir, ignore_errors=True)
    return out


def measure_wal_pages(pages: list[int], commits: int, rounds: int, parent: str | None) -> dict[int, dict[str, float]]:
    """Per wal_autocheckpoint setting: the writer's wall and CPU µs per update, its rounds alternating."""
    from shipper.checkpoint_db import CheckpointDb

    rows = [(k, orjson.dumps(v)) for k, v in FRAGMENT.items()]
    dbs: dict[int, CheckpointDb] = {}
    got: dict[int, dict[str, list[float]]] = {n: {"wall_us": [], "cpu_us": []} for n in pages}
    try:
        for n in pages:
            dbs[n] = CheckpointDb(tempfile.mkdtemp(prefix="shipper-wal-pages-", dir=parent), os.getpid())
            dbs[n]._db.execute(f"PRAGMA wal_autocheckpoint={n}")
            dbs[n].update("src", rows, time.time())
        for _ in range(rounds):
            for n in pages:
                db = dbs[n]
                t0, c0 = time.perf_counter(), time.process_time()
                for _ in range(commits):
                    db.update("src", rows, time.time())
                c1, t1 = time.process_time(), time.perf_counter()
                got[n]["wall_us"].append((t1 - t0) / commits * 1e6)
                got[n]["cpu_us"].append((c1 - c0) / commits * 1e6)
    finally:
        for db in dbs.values():
            db.close(clean=True)
            shutil.rmtree(db.state_dir, ignore_errors=True)
    return {n: {k: statistics.median(v) for k, v in g.items()} for n, g in got.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--commits", type=int, default=3000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--durability", action="store_true", help="synchronous=NORMAL against FULL (issue 13)")
    ap.add_argument("--dir", help="where the temporary state_dir is made (--durability: the state_dir's filesystem)")
    ap.add_argument("--wal-pages", help="wal_autocheckpoint values compared, e.g. 1000,64 (issue 13)")
    a = ap.parse_args()
    if a.wal_pages:
        w = measure_wal_pages([int(n) for n in a.wal_pages.split(",")], a.commits, a.rounds, a.dir)
        print(f"`bench/checkpoint_commit.py --wal-pages {a.wal_pages} --commits {a.commits} --rounds {a.rounds}` "
              "(medians, µs; the writer's update in this process, rounds alternating)\n")
        print("| wal_autocheckpoint (pages) | wall per commit | CPU per commit |")
        print("|---:|---:|---:|")
        for n, r in w.items():
            print(f"| {n} | {r['wall_us']:.0f} | {r['cpu_us']:.0f} |")
        return 0
    if a.durability:
        d = measure_durability(a.commits, a.rounds, a.dir)
        print(f"`bench/checkpoint_commit.py --durability --commits {a.commits} --rounds {a.rounds}` "
              "(medians, µs; the writer's update in this process)\n")
        print("| synchronous | wall per commit | CPU per commit | one fsync of the WAL |")
        print("|---|---:|---:|---:|")
        for mode, r in d.items():
            print(f"| {mode} | {r['wall_us']:.0f} | {r['cpu_us']:.0f} | {r['fsync_us']:.0f} |")
        return 0
    r = measure(a.commits, a.rounds)
    print(f"`bench/checkpoint_commit.py --commits {a.commits} --rounds {a.rounds}` (medians, µs per commit)\n")
    print("| wall | CPU, calling thread | CPU, writer process | CPU, both |")
    print("|---:|---:|---:|---:|")
    print(f"| {r['wall_us']:.0f} | {r['caller_us']:.0f} | {r['writer_us']:.0f} | {r['caller_us'] + r['writer_us']:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
