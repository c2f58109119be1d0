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
while nothing has been read for IDLE_AFTER seconds, every IDLE_WATCH_SECONDS: an idle agent's wake-ups stay few, and
a freeze while nothing is written loses nothing). A tailer that looks in the first instant after a freeze, before the
watch ran, still knows: the watch's missed tick is a lapse going on. After a lapse, the tailer's first look proves
each file it had read to its end untouched by it when its size and mtime are still as that read found them (attest):
a quiet log emptied after an outage or a freeze lost nothing to it. (tests/tail/test_attack24_truncated_unread_called_possibly_none.py,
tests/tail/test_cut_during_cgroup_freeze_counted.py, tests/tail/test_attack25_quiet_log_emptied_after_lapse_false_loss.py)
"""
from __future__ import annotations

import os
import threading
import time
from typing import TYPE_CHECKING, Callable, Iterable, TypeVar

from shipper.tail import clock

if TYPE_CHECKING:
    from shipper.tail.followed import Followed

# A hand-over that waited this long held the reader: at a normal pace it takes microseconds, and a second is well
# past the latency of a look under load, inside which a write and the cut are not told apart anyway.
LAPSE_SECONDS = 1.0

# The clock watch's period: a freeze of LAPSE_SECONDS + WATCH_SECONDS or more always makes one of its wakes that late.
WATCH_SECONDS = 1.0
IDLE_AFTER = 5.0  # … once this long has passed without a line read, its period is
IDLE_WATCH_SECONDS = 10.0

_continued_at = float("-inf")  # when the process was last continued after a stop (SIGCONT), on the tailer's clock

T = TypeVar("T")


def continued() -> None:
    """The process was continued after being stopped (the agent's SIGCONT handler calls it)."""
    global _continued_at
    _continued_at = clock.monotonic()


_wakers: list[Callable[[], None]] = []  # (the file sources' watcher.wake: a lapse ended, attest)


def add_waker(wake: Callable[[], None]) -> None:
    """`wake` (thread-safe) is called by the clock watch when it sees a stop or a freeze ended: the caller's tailer
    should attest its files at once (Lapses.attest), before a quiet one's later cut is taken for the lapse's."""
    _wakers.append(wake)


def remove_waker(wake: Callable[[], None]) -> None:
    if wake in _wakers:
        _wakers.remove(wake)


class _Watch:
    """The clock watch's findings (one a process): when it last woke, and its latest late wake. It also wakes the
    file sources after a stop or a freeze (add_waker)."""
    running = False
    period = WATCH_SECONDS
    ticked_at = float("-inf")  # (the tailer's clock)
    late_at = float("-inf")  # the end of the latest span it was not run, on the tailer's clock
    late_for = 0.0  # seconds
    read_at = float("-inf")  # (time.monotonic) when lines were last handed over: read()
    quicken = threading.Event()  # set when lines are read while the watch keeps its idle pace


def read() -> None:
    """Lines were read (Lapses.timed's hand-over): the watch keeps its one-second pace for IDLE_AFTER seconds."""
    _Watch.read_at = time.monotonic()
    if _Watch.period != WATCH_SECONDS and not _Watch.quicken.is_set():
        _Watch.quicken.set()


def start_watch() -> None:
    """Start the clock watch (the agent's runner does, once; the torture harness's driven clocks do not)."""
    if _Watch.running:
        return
    _Watch.running, _Watch.ticked_at = True, clock.monotonic()
    threading.Thread(target=_watch, name="clock-watch", daemon=True).start()


def _watch() -> None:
    told = _continued_at
    while True:
        before = time.monotonic()
        _Watch.period = WATCH_SECONDS if before - _Watch.read_at < IDLE_AFTER else IDLE_WATCH_SECONDS
        _Watch.quicken.wait(_Watch.period)
        _Watch.quicken.clear()
        late = time.monotonic() - before - _Watch.period  # (woken early by read(): negative)
        if late >= LAPSE_SECONDS:
            _Watch.late_for, _Watch.late_at = late, clock.monotonic()
        _Watch.ticked_at = clock.monotonic()
        if late >= LAPSE_SECONDS or _continued_at != told:
            told = _continued_at  # (a SIGCONT's handler only notes it: waking from a signal handler may deadlock)
            for wake in list(_wakers):
                wake()


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
    """The latest lapse of one tailer's attention (its end and cause), and the files it proved untouched by it."""

    __slots__ = ("ended_at", "cause", "attested_at")

    def __init__(self) -> None:
        self.ended_at = float("-inf")
        self.cause = ""
        self.attested_at = float("-inf")  # when attest() last looked at the files after a lapse

    def timed(self, emit: Callable[[T], None]) -> Callable[[T], None]:
        """`emit` for one read call, noting a lapse once its hand-overs have waited LAPSE_SECONDS or more in all: a
        slow output holds the reader in many waits each under a second (acks 0.15-0.3 s late: 3.7 s in all,
        tests/tail/test_attack25_slow_output_cut_possibly_none.py). A queue with room takes a chunk in microseconds."""
        waited = 0.0

        def timed_emit(chunk: T) -> None:
            nonlocal waited
            started = clock.monotonic()
            read()
            emit(chunk)
            ended = clock.monotonic()
            waited += ended - started
            if waited >= LAPSE_SECONDS:
                self.ended_at = ended
                self.cause = (f"the agent did not read for {waited:.0f} s, its output slow or its queue full "
                              "(backpressure)")
        return timed_emit

    def attest(self, files: Iterable[Followed]) -> None:
        """After a lapse ended (the tailer's first look since): each file read to its end before it whose size and
        mtime are still as that read found them was written to by nobody meanwhile, so a later cut of it takes
        nothing the lapse hid: its look moves to now. Without this a quiet log emptied after an outage, a SIGSTOP or
        another file's backpressure was a counted loss that never happened
        (tests/tail/test_attack25_quiet_log_emptied_after_lapse_false_loss.py). One fstat a file a lapse."""
        ended = max(self.ended_at, _continued_at, _Watch.late_at)
        if ended <= self.attested_at:
            return
        now = self.attested_at = clock.monotonic()
        for f in files:
            if f.fh is None or f.looked_at >= ended or not f.looked_mtime_ns or not f.at_eof:
                continue
            try:
                st = os.fstat(f.fh.fd)
            except OSError:
                continue
            if st.st_mtime_ns == f.looked_mtime_ns and st.st_size == f.size:
                f.looked_at = now

    def since(self, looked_at: float) -> str:
        """Why the tailer may have missed writes after `looked_at` (a file's last look at its end), or ""."""
        if _continued_at > looked_at and _continued_at >= max(self.ended_at, _Watch.late_at):
            return "the agent was stopped (SIGSTOP) and continued since its last read"
        if self.ended_at > looked_at and self.ended_at >= _Watch.late_at:
            return self.cause
        if _Watch.late_at > looked_at:
            return (f"the agent was not run for {_Watch.late_for + _Watch.period:.0f} s (frozen — a cgroup freeze — "
                    "or starved of CPU) since its last read")
        if _Watch.running and clock.monotonic() - _Watch.ticked_at >= _Watch.period + LAPSE_SECONDS:
            # (the watch has not woken since a freeze that is ending now: it is late)
            return "the agent was not run for a while (frozen — a cgroup freeze — or starved of CPU) since its last read"
        return ""
