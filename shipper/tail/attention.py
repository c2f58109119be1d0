"""Lapses of the tailer's attention: spans in which it looked at none of its files, so that a file written and then
truncated in place meanwhile (Log4j MaxBackupIndex=0, copytruncate whose copy is gone, `: > app.log`) shows it only
the truncation. Read to its end at its last look and attended since, a file found truncated lost at most what was
written in the instant before the cut (a write and the cut between two looks are one IN_MODIFY): a possible loss.
After a lapse, lines written during it may have been cut away unread: a loss, counted (Prospector: truncated,
no copy found).

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
