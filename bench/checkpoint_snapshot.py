"""Cost of the checkpoint writer's snapshot (`checkpoints.snapshot.json`, what `shipper status` reads while
the agent runs) with many checkpoint keys: every row is written again every SNAPSHOT_EVERY (5 s) while rows
change, by the writer process, between two requests: a commit that comes meanwhile waits for it.

Measured, for 1 k, 10 k and 100 k keys (values like a file position's, ~150 bytes of JSON):
- the snapshot itself, in-process (shipper.checkpoint_db.CheckpointDb.write_snapshot): wall and CPU
  time, bytes written;
- through the real writer process (shipper.checkpoint.CheckpointStore): the latency of one-key commits
  sent back to back for 12 s (so about two snapshots fall among them): median, 99th percentile, max.

    .venv/bin/python bench/checkpoint_snapshot.py        # ~1 minute; prints a Markdown table
"""
from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from shipper import checkpoint_db  # noqa: E402
from shipper.checkpoint import CheckpointStore  # noqa: E402

SIZES = (1_000, 10_000, 100_000)
COMMITS_FOR = 12.0  # seconds of commits per size: about two snapshots among them


def value(i: int) -> dict:
    return {"path": f"/var/log/app/audit-{i:06d}.log", "offset": 123_456_789 + i, "size": 123_456_789 + i,
            "mark": "9f86d081884c7d659a2feaa0c55ad015", "inode": 1_000_000 + i}


def fill(store: CheckpointStore, keys: int) -> None:
    for start in range(0, keys, 1000):
        store.update("app", {f"f:2049:{i}": value(i) for i in range(start, min(keys, start + 1000))})


def snapshot_alone(state_dir: str) -> tuple[float, float, int]:
    """(wall s, CPU s, bytes) of one snapshot, in this process, of the database the store left."""
    db = checkpoint_db.CheckpointDb(state_dir, os.getpid())
    try:
        best = (float("inf"), float("inf"))
        for _ in range(3):
            w, c = time.perf_counter(), time.process_time()
            db.write_snapshot()
            best = min(best, (time.perf_counter() - w, time.process_time() - c))
        return best[0], best[1], os.path.getsize(os.path.join(state_dir, checkpoint_db.SNAPSHOT))
    finally:
        db.close(clean=True)


def commit_latencies(store: CheckpointStore) -> list[float]:
    out = []
    end = time.monotonic() + COMMITS_FOR
    n = 0
    while time.monotonic() < end:
        t = time.perf_counter()
        store.update("app", {"f:2049:0": value(n)})
        out.append(time.perf_counter() - t)
        n += 1
    return out


def main() -> None:
    print("| keys | snapshot bytes | snapshot wall ms | snapshot CPU ms | commits | commit median ms "
          "| commit p99 ms | commit max ms |")
    print("|---|---|---|---|---|---|---|---|")
    for keys in SIZES:
        with tempfile.TemporaryDirectory(prefix="bench-snapshot-") as state_dir:
            store = CheckpointStore(state_dir)
            try:
                fill(store, keys)
                lat = sorted(commit_latencies(store))
            finally:
                store.close()
            wall, cpu, size = snapshot_alone(state_dir)
        p99 = lat[int(len(lat) * 0.99)]
        print(f"| {keys:,} | {size:,} | {wall * 1e3:.0f} | {cpu * 1e3:.0f} | {len(lat):,} "
              f"| {statistics.median(lat) * 1e3:.2f} | {p99 * 1e3:.1f} | {lat[-1] * 1e3:.0f} |")


if __name__ == "__main__":
    main()
