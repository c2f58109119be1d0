"""Writes a truncation may have cut away unseen: lapses of the tailer's attention, and busy writers.

A lapse is a span in which the tailer looked at none of its files, so that a file written and then truncated in place
meanwhile (Log4j MaxBackupIndex=0, copytruncate whose copy is gone, `: > app.log`) shows it only the truncation. Read
to its end at its last look and attended since, a file found truncated lost at most what was written in the instant
before the cut (a write and the cut between two looks are one IN_MODIFY): a possible loss. After a lapse, lines
written during it may have been cut away unread: a loss, counted (Prospector: truncated, no copy found). So too under
a writer busy until the cut (written_just_before): its lines between the last read and the cut
(tests/tail/test_attack24_copytruncate_rotate_0_windows_uncounted.py).

Three lapses are seen: a hand-over of lines that waited (the output's queue full: backpressure holds the reader); the
whole process stopped (SIGSTOP, a debugger, `kill -STOP`), told by SIGCONT, whose handler runs in the main thread; and
the process not run for a while without a signal — a cgroup freeze (`systemctl freeze`, `docker pause`) or a host
starving it of CPU — told by a clock watch (start_watch: a thread that wakes every WATCH_SECONDS and finds itself late;
one wake-up a second, within the idle budget). A tailer that looks in the first instant after a freeze, before the
watch ran, still knows: the watch's missed tick is a lapse going on. A lapse explains a cut only when the cut came
before it ended, or soon after (CUT_AFTER_SECONDS, the catch-up of a reader let go): a quiet log emptied an hour after
a freeze, read to its end since, lost nothing of it. (tests/tail/test_attack24_truncated_unread_called_possibly_none.py,
tests/tail/test_cut_during_cgroup_freeze_counted.py)
"""
from __future__ import annotations

import threading
import time
from typing import Callable, TypeVar

from shipper.tail import clock

# A hand-over that waited this long held the reader: at a normal pace it takes microseconds, and a second is well
# past the latency of a look under load, inside which a write and the cut are not told apart anyway.
LAPSE_SECONDS = 1.0

# A cut more than this after a lapse ended came under a reader attending again: the lapse does not explain it.
CUT_AFTER_NS = 5_000_000_000
# The clock watch's period: a freeze of LAPSE_SECONDS + WATCH_SECONDS or more always makes one of its wakes that late.
WATCH_SECONDS = 1.0

_continued_at = float("-inf")  # when the process was last continued after a stop (SIGCONT), on the tailer's clock
_continued_wall_ns = 0

T = TypeVar("T")


def continued() -> None:
    """The process was continued after being stopped (the agent's SIGCONT handler calls it)."""
    global _continued_at, _continued_wall_ns
    _continued_at, _continued_wall_ns = clock.monotonic(), clock.wall_ns()


class _Watch:
    """The clock watch's findings (one a process): when it last woke, and its latest late wake."""
    running = False
    ticked_at = float("-inf")  # (the tailer's clock)
    late_at = float("-inf")  # the end of the latest span it was not run, on the tailer's clock …
    late_wall_ns = 0  # … and the wall clock's
    late_for = 0.0  # seconds


def start_watch() -> None:
    """Start the clock watch (the agent's runner does, once; the torture harness's driven clocks do not)."""
    if _Watch.running:
        return
    _Watch.running, _Watch.ticked_at = True, clock.monotonic()
    threading.Thread(target=_watch, name="clock-watch", daemon=True).start()


def _watch() -> None:
    while True:
        before = time.monotonic()
        time.sleep(WATCH_SECONDS)
        late = time.monotonic() - before - WATCH_SECONDS
        if late >= LAPSE_SECONDS:
            _Watch.late_for, _Watch.late_wall_ns, _Watch.late_at = late, clock.wall_ns(), clock.monotonic()
        _Watch.ticked_at = clock.monotonic()


# A cut whose file was written to less than this before it (its mtime at the tailer's last look at its end, against its
# mtime at the cut) came under a busy writer: lines written between that look and the cut went with it (a copytruncate
# whose copy is gone at once, `rotate 0`: ~50 lines a rotation at 2,000 lines/s). A quiet log emptied (`: > app.log`)
# had no write for longer. From the file's own clock, so the host's load does not move it.
BUSY_NS = 1_000_000_000


def written_just_before(looked_mtime_ns: int, cut_mtime_ns: int) -> str:
    """Why lines may have been written unseen before a cut: its writer was busy then (BUSY_NS); "" if not, or unknown."""
    if looked_mtime_ns and cut_mtime_ns and 0 <= cut_mtime_ns - looked_mtime_ns < BUSY_NS:
        return (f"its writer was busy (it changed {(cut_mtime_ns - looked_mtime_ns) / 1e9:.2f} s after the last read): "
                "lines it wrote after that read went with the cut")
    return ""


class Lapses:
    """The latest lapse of one tailer's attention (its end and cause)."""

    __slots__ = ("ended_at", "ended_wall_ns", "cause")

    def __init__(self) -> None:
        self.ended_at = float("-inf")
        self.ended_wall_ns = 0
        self.cause = ""

    def timed(self, emit: Callable[[T], None]) -> Callable[[T], None]:
        """`emit`, noting as a lapse each call that waited LAPSE_SECONDS or more."""
        def timed_emit(chunk: T) -> None:
            started = clock.monotonic()
            emit(chunk)
            ended = clock.monotonic()
            if ended - started >= LAPSE_SECONDS:
                self.ended_at, self.ended_wall_ns = ended, clock.wall_ns()
                self.cause = (f"the agent did not read for {ended - started:.0f} s, its output's queue full "
                              "(backpressure)")
        return timed_emit

    def since(self, looked_at: float, cut_mtime_ns: int) -> str:
        """Why the tailer may have missed writes after `looked_at` (a file's last look at its end) that a cut with
        mtime `cut_mtime_ns` took away, or ""."""
        found: list[tuple[float, int, str]] = []
        if _continued_at > looked_at:
            found.append((_continued_at, _continued_wall_ns,
                          "the agent was stopped (SIGSTOP) and continued since its last read"))
        if self.ended_at > looked_at:
            found.append((self.ended_at, self.ended_wall_ns, self.cause))
        if _Watch.late_at > looked_at:
            found.append((_Watch.late_at, _Watch.late_wall_ns,
                          f"the agent was not run for {_Watch.late_for + WATCH_SECONDS:.0f} s (frozen — a cgroup "
                          "freeze — or starved of CPU) since its last read"))
        now = clock.monotonic()
        if _Watch.running and now - _Watch.ticked_at >= WATCH_SECONDS + LAPSE_SECONDS:
            # (the watch has not woken since a freeze ended: it is late now)
            found.append((now, clock.wall_ns(), "the agent was not run for a while (frozen — a cgroup freeze — or "
                                                "starved of CPU) since its last read"))
        for _, ended_wall_ns, cause in sorted(found, reverse=True):
            if not cut_mtime_ns or cut_mtime_ns <= ended_wall_ns + CUT_AFTER_NS:
                return cause
        return ""
