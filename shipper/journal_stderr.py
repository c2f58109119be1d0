"""The journal's lines on standard error, held while standard error does not take them: what the journal on a stalled
pipe, socket or terminal (shipper.journal_pipe) and on a regular file (shipper.journal_file) share.

Each line is one of shipper.log's (logfmt or JSON, one a line): its level says whether it is a warning or an error (the
backlog's drop count, and the lines named at the exit, weigh them). What is still held at the exit is counted in the
kernel's log with its last warnings and errors, as the journal on syslog does (shipper.journal_syslog)."""
from __future__ import annotations

import os
import re
from typing import Callable

from shipper.journal_backlog import HeldJournal
from shipper.journal_syslog import for_the_kernel_log, said_at_exit, to_kernel_log

# A journal line's level as shipper.log formats it: logfmt's `level=…` or JSON's `{"level":"…"`, after the `<N>` priority
# of a line for journald's stream.
_LEVEL = re.compile(rb'(?:<([0-7])>)?(?:level=|\{"level":")([a-z]+)')
WEIGHTY_LEVELS = (b"warning", b"error", b"critical")
# sd-daemon(3) priorities of shipper.log's levels (a line handed to syslog keeps its weight).
PRIORITY = {b"critical": 2, b"error": 3, b"warning": 4, b"info": 6, b"debug": 7}


def priority_of(line: bytes) -> int:
    """A journal line's syslog priority: its `<N>`, else its level's (a line of no known level: a notice, 5)."""
    m = _LEVEL.match(line)
    if m is None:
        return 5
    return int(m.group(1)) if m.group(1) else PRIORITY.get(m.group(2), 5)


class StderrJournal(HeldJournal):
    """Standard error as the journal's stream, its lines held while it does not take them (shipper.journal_backlog)."""

    # What the notes of dropped and unwritten lines say went wrong (each stream its own words).
    stalled = "standard error did not take the journal"

    def __init__(self) -> None:
        super().__init__()
        # A journal line of the agent's own (its text, its level: logging.ERROR if not given), in the journal's format.
        self.line_of: Callable[..., str] = lambda text, level=0: text

    def fileno(self) -> int:
        return 2  # faulthandler's tracebacks (a watchdog abort) go to stderr as it is

    def write(self, s: str) -> int:
        self._pending += s
        *lines, self._pending = self._pending.split("\n")
        for line in lines:
            self._send_now((line + "\n").encode(errors="replace"))
        return len(s)

    def _dropped_note(self, dropped: int, weighty: int) -> bytes:
        return (self.line_of(f"{self.stalled}: {dropped} lines of it were dropped here ({weighty} warnings or errors "
                             "among them; the agent went on)") + "\n").encode(errors="replace")

    def _weighty(self, data: bytes) -> bool:
        return priority_of(data) <= 4

    def _unwritten(self) -> list[bytes]:
        """The lines still held (with the lock held): those named at the exit."""
        return [bytes(line) for line in self._backlog]

    def _left_note(self) -> str:
        """More words for the exit's line in the kernel's log (with the lock held): none by default."""
        return ""

    def _left_at_exit(self) -> None:
        held = self._unwritten()
        if not held and not self._dropped:
            return
        urgent = [line.decode(errors="replace") for line in held if self._weighty(line)]
        to_kernel_log(f"shipper[{os.getpid()}]: {self.stalled}: {len(held) + self._dropped} lines of it were left "
                      f"unwritten at the exit{self._left_note()} ({said_at_exit(urgent)} among the last "
                      f"{len(held)}; those naming a loss and the last of them follow)")
        for line in for_the_kernel_log(urgent):
            to_kernel_log(line)
