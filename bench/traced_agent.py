"""`shipper` under tracemalloc, for bench/soak.py --tracemalloc: SIGUSR2 writes a snapshot to
$SHIPPER_TRACE_DIR/snapshot-N.tracemalloc (N counting from 0). Bench only: the agent itself has
no such hook."""
from __future__ import annotations

import os
import signal
import sys
import tracemalloc

tracemalloc.start(int(os.environ.get("SHIPPER_TRACE_FRAMES", "8")))
_taken = 0


def _snapshot(_signum, _frame) -> None:
    global _taken
    snap = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(False, tracemalloc.__file__)])
    snap.dump(os.path.join(os.environ["SHIPPER_TRACE_DIR"], f"snapshot-{_taken}.tracemalloc"))
    _taken += 1


signal.signal(signal.SIGUSR2, _snapshot)

from shipper.cli import main  # noqa: E402  (after tracemalloc.start: the agent's allocations are traced)

sys.exit(main())
