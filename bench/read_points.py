"""Cost of the earlier read points a live file's checkpoint keeps (issue 21: state.EARLIER_MARKS
[offset, mark] pairs, which prove a copytruncate copy shorter than what was read after a restart).

The same live file is followed with the read points kept (as shipped) and without them (advance()
only moves the offset; no line-end marks hashed): tailer CPU per line read and checkpoint bytes
per batch, when each read finds 1, 10 or 100 new lines (few lines per read is the worst case:
the checkpoint is written once per batch).

    .venv/bin/python bench/read_points.py        # ~1 minute; prints a Markdown table
"""
from __future__ import annotations

import json
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from shipper.tail import harvester as harvester_mod, state as state_mod  # noqa: E402
from shipper.tail.harvester import Chunk  # noqa: E402  (shipper.tail imports none of its modules itself)
from shipper.tail.tailer import Tailer  # noqa: E402

LINES = 20_000
LINE = b'{"seq": %d, "msg": "' + b"p" * 70 + b'"}\n'


def run(per_read: int, points: bool) -> tuple[float, float, int]:
    """(CPU µs per line, checkpoint bytes per batch, lines read) for one follow of LINES lines."""
    saved = state_mod.FileState.advance, harvester_mod.EARLIER_MARKS
    if not points:
        def advance(self, offset, mark, between=None):
            self.offset, self.mark = offset, mark
        state_mod.FileState.advance = advance
        harvester_mod.EARLIER_MARKS = 0  # no line ends passed are hashed
    try:
        with tempfile.TemporaryDirectory() as d:
            log = Path(d) / "app.log"
            log.write_bytes(b"")
            t = Tailer([str(log)], [], d, {})
            stop = threading.Event()
            got = [0]
            ckpt = [0, 0]

            def emit(chunk: Chunk) -> None:
                got[0] += len(chunk.records)
                if chunk.records:
                    ckpt[0] += len(json.dumps(chunk.checkpoint))
                    ckpt[1] += 1

            t.scan()
            cpu = 0.0
            n = 0
            with open(log, "ab", buffering=0) as fh:
                while n < LINES:
                    fh.write(b"".join(LINE % (n + i) for i in range(per_read)))
                    n += per_read
                    c0 = time.process_time()
                    t.read_all(emit, stop)
                    cpu += time.process_time() - c0
            t.close()
            return cpu / got[0] * 1e6, ckpt[0] / max(1, ckpt[1]), got[0]
    finally:
        state_mod.FileState.advance, harvester_mod.EARLIER_MARKS = saved


def main() -> None:
    print("| lines per read | read points | tailer CPU µs/line | checkpoint bytes/batch |")
    print("|---|---|---|---|")
    for per_read in (1, 10, 100):
        for points in (False, True):
            best = min((run(per_read, points) for _ in range(3)), key=lambda r: r[0])
            assert best[2] == LINES
            print(f"| {per_read} | {'16 kept' if points else 'none'} | {best[0]:.1f} | {best[1]:.0f} |", flush=True)


if __name__ == "__main__":
    main()
