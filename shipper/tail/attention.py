"""Writes a truncation may have cut away unseen: lapses of the tailer's attention, and busy writers.

A lapse is a span in which the tailer looked at none of its files, so that a file written and then truncated in place
meanwhile (Log4j MaxBackupIndex=0, copytruncate whose copy is gone, `: > app.log`) shows it only the truncation. Read
to its end at its last look and attended since, a file found truncated lost at most what was written in the instant
before the cut (a write and the cut between two looks are one IN_MODIFY): a possible loss. After a lapse, lines
written during it may have been cut away unread: a loss, counted (Prospector: truncated, no copy found). So too under
a writer busy until the cut (written_just_before): its lines between the last read and the cut
(tests/tail/test_attack24_copytruncate_rotate_0_windows_uncounted.py).

Three lapses are seen: a hand-over of lines that waited (the output's queue full or slow: backpressure holds the
reader); the whole process stopped (SIGSTOP), told by SIGCONT; and the process not run for a while without a signal (a
cgroup freeze, CPU starvation), told by a clock watch (shipper/tail/clock_watch.py). A tailer that looks in the first
instant after a freeze, before the watch ran, still knows: the watch's missed tick is a lapse going on. After a lapse,
the tailer's first look proves each file it had read to its end untouched by it when its size and mtime are still as
that read found them (attest): a quiet log emptied after an outage or a freeze lost nothing to it.
(tests/tail/test_attack24_truncated_unread_called_possibly_none.py, tests/tail/test_cut_during_cgroup_freeze_counted.py,
tests/tail/test_attack25_quiet_log_emptied_after_lapse_false_loss.py)
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Callable, Iterable, TypeVar

from shipper.tail import clock
from shipper.tail.clock_watch import LAPSE_SECONDS, Watch, late_now, read

if TYPE_CHECKING:
    from shipper.tail.followed import Followed

T = TypeVar("T")


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

    __slots__ = ("ended_at", "cause", "attested_at", "_held_since")

    def __init__(self) -> None:
        self.ended_at = float("-inf")
        self.cause = ""
        self.attested_at = float("-inf")  # when attest() last looked at the files after a lapse
        self._held_since: float | None = None  # in a hand-over now: since when its read call has waited, in all

    def timed(self, emit: Callable[[T], None]) -> Callable[[T], None]:
        """`emit` for one read call, noting a lapse once its hand-overs have waited LAPSE_SECONDS or more in all: a
        slow output holds the reader in many waits each under a second (acks 0.15-0.3 s late: 3.7 s in all,
        tests/tail/test_attack25_slow_output_cut_possibly_none.py). A queue with room takes a chunk in microseconds."""
        waited = 0.0

        def timed_emit(chunk: T) -> None:
            nonlocal waited
            started = clock.monotonic()
            read()
            self._held_since = started - waited
            try:
                emit(chunk)
            finally:
                self._held_since = None
            ended = clock.monotonic()
            waited += ended - started
            if waited >= LAPSE_SECONDS:
                self.ended_at = ended
                self.cause = _held_for(waited)
        return timed_emit

    def holding(self) -> str:
        """Why the reader, held in a hand-over now (a look while held: the file source's looking_while_held), misses
        writes: once its read call has waited LAPSE_SECONDS or more in all, the hold is a lapse of attention as it goes
        on, not only once it ended (timed). A cut back that a look while held finds is counted then: lines written and
        cut away while the reader could not read (tests/tail/test_attack25_cut_back_mtime_restored_silent.py, the
        outage; its looks, noting the watcher's events as they go, see the writes). "" when not held so long."""
        since = self._held_since
        if since is None:
            return ""
        held = clock.monotonic() - since
        return _held_for(held) if held >= LAPSE_SECONDS else ""

    def attest(self, files: Iterable[Followed]) -> None:
        """After a lapse ended (the tailer's first look since): each file read to its end before it whose size and
        mtime are still as that read found them was written to by nobody meanwhile, so a later cut of it takes
        nothing the lapse hid: its look moves to now. Without this a quiet log emptied after an outage, a SIGSTOP or
        another file's backpressure was a counted loss that never happened
        (tests/tail/test_attack25_quiet_log_emptied_after_lapse_false_loss.py). One fstat a file a lapse."""
        ended = max(self.ended_at, Watch.continued_at, Watch.late_at)
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
            # (Its change time too: a cut back with the mtime set back leaves size and mtime as they were.)
            if st.st_mtime_ns == f.looked_mtime_ns and st.st_size == f.size and st.st_ctime_ns == f.looked_ctime_ns:
                f.looked_at = now

    def since(self, looked_at: float, cut_seen_at: float | None = None) -> str:
        """Why the tailer may have missed writes after `looked_at` (a file's last look at its end), or "". `cut_seen_at`:
        when a look found the file cut already. The process ran then, so a stop or freeze whose end was noted more than
        LAPSE_SECONDS after it began after it, after the cut, and hid nothing the cut took (a quiet log emptied, the
        agent SIGSTOPped right after: tests/tail/test_attack25_quiet_log_emptied_after_lapse_false_loss.py). (The end of
        one is noted a moment after it, by the SIGCONT handler or the clock watch: a look in that moment came after it.)
        A hold by backpressure may span the look (the look while held), so it counts all the same."""
        bound = float("inf") if cut_seen_at is None else cut_seen_at + LAPSE_SECONDS
        continued_at = Watch.continued_at if Watch.continued_at < bound else float("-inf")
        late_at = Watch.late_at if Watch.late_at < bound else float("-inf")
        if continued_at > looked_at and continued_at >= max(self.ended_at, late_at):
            return "the agent was stopped (SIGSTOP) and continued since its last read"
        if self.ended_at > looked_at and self.ended_at >= late_at:
            return self.cause
        if late_at > looked_at:
            return (f"the agent was not run for {Watch.late_for + Watch.period:.0f} s (frozen — a cgroup freeze — "
                    "or starved of CPU) since its last read")
        if late_now():
            return "the agent was not run for a while (frozen — a cgroup freeze — or starved of CPU) since its last read"
        return ""


def _held_for(seconds: float) -> str:
    return f"the agent did not read for {seconds:.0f} s, its output slow or its queue full (backpressure)"
