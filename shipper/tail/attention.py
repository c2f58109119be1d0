"""Writes a truncation may have cut away unseen: lapses of the tailer's attention, and busy writers.

A lapse is a span in which the tailer looked at none of its files, so that a file written and then truncated in place
meanwhile (Log4j MaxBackupIndex=0, copytruncate whose copy is gone, `: > app.log`) shows it only the truncation. Read
to its end at its last look and attended since, a file found truncated lost at most what was written in the instant
before the cut (a write and the cut between two looks are one IN_MODIFY): a possible loss. After a lapse, lines
written during it may have been cut away unread: a loss, counted (Prospector: truncated, no copy found). So too under
a writer busy until the cut (written_just_before): its lines between the last read and the cut
(tests/tail/test_attack24_copytruncate_rotate_0_windows_uncounted.py).

Two lapses are seen: a hand-over of lines that waited (the output's queue full: backpressure holds the reader) and
the whole process stopped (SIGSTOP, a debugger, `kill -STOP`), told by SIGCONT, whose handler runs in the main
thread: a tailer that looks in the first milliseconds after the continue, before it ran, may not know yet. Not seen:
a process starved of CPU (its lapses are as long as its looks are late) and a cgroup freeze (`systemctl freeze`,
`docker pause`), which sends no signal. (tests/tail/test_attack24_truncated_unread_called_possibly_none.py)
"""
from __future__ import annotations

from typing import Callable, TypeVar

from shipper.tail import clock

# A hand-over that waited this long held the reader: at a normal pace it takes microseconds, and a second is well
# past the latency of a look under load, inside which a write and the cut are not told apart anyway.
LAPSE_SECONDS = 1.0

_continued_at = float("-inf")  # when the process was last continued after a stop (SIGCONT), on the tailer's clock

T = TypeVar("T")


def continued() -> None:
    """The process was continued after being stopped (the agent's SIGCONT handler calls it)."""
    global _continued_at
    _continued_at = clock.monotonic()


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

    __slots__ = ("ended_at", "cause")

    def __init__(self) -> None:
        self.ended_at = float("-inf")
        self.cause = ""

    def timed(self, emit: Callable[[T], None]) -> Callable[[T], None]:
        """`emit`, noting as a lapse each call that waited LAPSE_SECONDS or more."""
        def timed_emit(chunk: T) -> None:
            started = clock.monotonic()
            emit(chunk)
            ended = clock.monotonic()
            if ended - started >= LAPSE_SECONDS:
                self.ended_at = ended
                self.cause = (f"the agent did not read for {ended - started:.0f} s, its output's queue full "
                              "(backpressure)")
        return timed_emit

    def since(self, looked_at: float) -> str:
        """Why the tailer may have missed writes after `looked_at` (a file's last look at its end), or ""."""
        if _continued_at > looked_at and _continued_at >= self.ended_at:
            return "the agent was stopped (SIGSTOP) and continued since its last read"
        if self.ended_at > looked_at:
            return self.cause
        return ""
