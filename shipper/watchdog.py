"""Liveness: is the pipeline wedged? Asked once a second by the runner's loop, which pets the systemd
watchdog only while nothing is (shipper.notify), and by /health for how long an output has held batches
without delivering one. An output retrying through an outage is alive; an output or a checkpoint that
moves no further while work waits is wedged.
"""
from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shipper.pipeline import Pipeline


class Watchdog:
    def __init__(self, pipeline: Pipeline):
        self.pipeline = pipeline
        self._progress: dict[str, tuple[Any, float]] = {}  # last progress signature per key, and when it changed
        self.undelivered_for: dict[str, float] = {}  # output → seconds busy without a delivery (set by stalled())

    def forget_output(self, name: str) -> None:
        """An output a reload replaced or removed: its successor starts with a clean record."""
        self._progress.pop(f"output:{name}", None)
        self._progress.pop(f"health:{name}", None)
        self.undelivered_for.pop(name, None)

    def forget_source(self, name: str) -> None:
        self._progress.pop(f"source:{name}", None)

    def stalled(self, stall_after: float, now: float | None = None) -> list[str]:
        """Why the pipeline is wedged; [] while it is alive. Called from the runner's loop.

        Alive means every output thread is running and is either idle-waiting (nothing queued, not
        sending) or shows progress within `stall_after` seconds: a batch acknowledged, or a delivery
        error or retry counted (an output retrying through an outage is alive, not wedged). And every
        source with batches in flight whose outputs are all idle sees its acks committed within
        `stall_after` (a lost ack or a hung checkpoint commit wedges it). A source thread that ended
        with an error is reported in status and /health, not here: a restart would not fix it.
        """
        p = self.pipeline
        now = time.monotonic() if now is None else now
        problems: list[str] = []
        for name, w in p.workers.items():
            if not w.alive():
                # An output that ended the run (EndRun: stdout's reader left) said why itself: no wedge.
                if name in p.output_started and not p.abandon.is_set() and w.ended is None:
                    problems.append(f"output {name}: thread ended")
                continue
            busy = w.busy or w.pending() > 0
            # A refused output's retries are no progress: only a delivery is (the watchdog fires).
            sig: tuple[Any, ...] = (w.last_success,) if w.refused else (w.last_success, w.last_error, w.counts.progress())
            # For /health: how long it has held batches without delivering one (retries do not count).
            self.undelivered_for[name] = self._no_progress(f"health:{name}", w.last_success, busy, now)
            if self._no_progress(f"output:{name}", sig, busy, now) > stall_after:
                problems.append(f"output {name}: no progress for {stall_after:.0f}s with batches queued"
                                + (f", refused: {w.refused}" if w.refused else ""))
        for name, r in p.runners.items():
            in_flight = r.tracker.in_flight()
            targets = p.router.route(r.tag)
            waiting = in_flight > 0 and not any(t.busy or t.pending() > 0 for t in targets)
            # A commit retrying through a full disk is alive (a restart would not free the disk): /health says why.
            source_sig = (r.tracker.committed_seq, p.store_failures)
            if self._no_progress(f"source:{name}", source_sig, waiting, now) > stall_after:
                problems.append(f"source {name}: {in_flight} batches delivered but not checkpointed for {stall_after:.0f}s")
        return problems

    def _no_progress(self, key: str, signature: Any, busy: bool, now: float) -> float:
        """Seconds `key` has been busy without its progress signature changing."""
        prev = self._progress.get(key)
        if not busy or prev is None or prev[0] != signature:
            self._progress[key] = (signature, now)
            return 0.0
        return now - prev[1]

