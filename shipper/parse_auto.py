"""`parse_workers: auto` (the default): parse in the source's thread while it follows, in worker
processes while it works through a backlog.

A source that follows live lines sends small batches: one thread parses them at a fraction of a
core, and extra processes would only cost memory (~25 MiB each) and latency. A source that starts
behind (a first run over old logs, a restart after an outage, a burst) sends full batches back to
back: there a second and third process double what one core parses (bench/README.md, `parse_workers`).
So a backlog is recognised by full batches in a row, and the workers are given back once the source
has sent no full batch for a while.

Worker pools are a host-wide budget, not per source: with two hundred sources catching up at once
the host gets one pool per two CPUs, the other sources parse in their own threads.
"""
from __future__ import annotations

import os
import threading

# Full batches in a row that make a backlog: one full batch is a burst a thread absorbs.
BACKLOG_AFTER_FULL_BATCHES = 3
# Seconds without a full batch after which the workers are given back.
IDLE_SECONDS = 30.0
# Processes per pool, measured on 2 cores (bench/README.md): 1 worker is no faster than the
# thread, 2 are 1.5-2.1x. More cores were not measured, so no more are taken.
WORKERS = 2


def usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))  # what this process may run on (cgroups, taskset)
    except (AttributeError, OSError):
        return os.cpu_count() or 1


class PoolBudget:
    """How many auto pools may run at once in this agent: one per two usable CPUs, none on one."""

    def __init__(self, cpus: int | None = None):
        cpus = usable_cpus() if cpus is None else cpus
        self.limit = cpus // 2
        self._used = 0
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            if self._used >= self.limit:
                return False
            self._used += 1
            return True

    def give_back(self) -> None:
        with self._lock:
            self._used = max(0, self._used - 1)


class BacklogDetector:
    """Counts a source's full batches in a row and remembers when the last one was seen."""

    def __init__(self, batch_size: int):
        self.batch_size = batch_size
        self.full_in_row = 0
        self.last_full = 0.0

    def saw(self, records: int, now: float) -> bool:
        """Record one batch; True when the source is behind (time for workers)."""
        if records >= self.batch_size:
            self.full_in_row += 1
            self.last_full = now
        else:
            self.full_in_row = 0
        return self.full_in_row >= BACKLOG_AFTER_FULL_BATCHES

    def idle(self, now: float) -> bool:
        return now - self.last_full >= IDLE_SECONDS
