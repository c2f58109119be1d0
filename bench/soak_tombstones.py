"""Bytes the file follower holds per tombstone (issue 23): a followed file rotated by rename (Log4j
1.2 order, 3 backups: the oldest deleted), read while live, N times; tracemalloc measures what the
Tailer holds after the N rotations minus before them, divided by the tombstones made.

    python bench/soak_tombstones.py --rotations 200 --lines 100

What a tombstone holds is what a later identity decision needs (its compressed copy, its inode
given to another file): bench/README.md, "Soak". Not a timed test: a figure for the README."""
from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import threading
import tracemalloc

import orjson

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from shipper.tail import scan_rules  # noqa: E402
from shipper.tail.tailer import Tailer  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rotations", type=int, default=200)
    ap.add_argument("--lines", type=int, default=100, help="lines per file, written and read in 10 steps")
    ap.add_argument("--backups", type=int, default=3)
    args = ap.parse_args()
    scan_rules.MISSING_SECONDS = 0.0  # (a file gone from two scans in a row is gone: no waiting)
    scan_rules.DELETED_GRACE = 0.0
    # (What one costs: every tombstone made is kept here, not the newest TOMBSTONES_PER_FAMILY of the family only.)
    scan_rules.TOMBSTONES_PER_FAMILY = scan_rules.TOMBSTONES_PER_SOURCE = args.rotations + args.backups + 10
    with tempfile.TemporaryDirectory(prefix="shipper-tombstones-") as d:
        live = os.path.join(d, "app.log")
        saved: dict[str, int] = {}  # a tombstone's key -> the length of its checkpoint value (JSON)

        def emit(chunk) -> None:
            for k, v in chunk.checkpoint.items():
                if v is not None and k.startswith("f:") and v.get("gone"):
                    saved[k] = len(orjson.dumps(v))
                else:
                    saved.pop(k, None)

        t = Tailer([live], [], d, {})
        stop = threading.Event()
        seq = 0

        def poll(n: int = 1) -> None:
            for _ in range(n):
                t.scan()
                t.read_all(emit, stop)

        def one_file() -> None:
            nonlocal seq
            for _ in range(10):
                with open(live, "ab") as f:
                    for _ in range(args.lines // 10):
                        f.write(b'{"seq": %d, "message": "a line of the soak, about a hundred bytes long, as logs are"}\n'
                                % seq)
                        seq += 1
                poll()

        def rotate() -> None:
            oldest = f"{live}.{args.backups}"
            if os.path.exists(oldest):
                os.unlink(oldest)
            for i in range(args.backups - 1, 0, -1):
                if os.path.exists(f"{live}.{i}"):
                    os.rename(f"{live}.{i}", f"{live}.{i + 1}")
            if os.path.exists(live):
                os.rename(live, f"{live}.1")
            one_file()
            poll(3)

        for _ in range(args.backups + 2):  # warm up: the backups exist, a first tombstone made
            rotate()
        tracemalloc.start(5)
        gc.collect()
        before, tomb0 = tracemalloc.take_snapshot(), _tombstones(t)
        for _ in range(args.rotations):
            rotate()
        gc.collect()
        after, tomb1 = tracemalloc.take_snapshot(), _tombstones(t)
        made = tomb1 - tomb0
        grew = sum(s.size_diff for s in after.compare_to(before, "filename"))
        ckpt = sum(saved.values()) / max(1, len(saved))
        print(f"{made} tombstones made ({tomb1} held), {grew / max(1, made):.0f} bytes of Python memory each "
              f"(tracemalloc, all allocations), its checkpoint value {ckpt:.0f} bytes of JSON")
        for s in after.compare_to(before, "lineno")[:8]:
            print(f"  {s.size_diff / max(1, made):8.0f} B/tombstone  {s.traceback[0]}")
        t.close()


def _tombstones(t: Tailer) -> int:
    return sum(1 for lo in t.loose.values() if lo.gone_at is not None)


if __name__ == "__main__":
    main()
