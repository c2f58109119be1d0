"""A SIGHUP that is a terminal hanging up, told from one asking for a reload.

`shipper run` started by hand in a terminal (an ssh session, a tmux pane) whose terminal then goes away — the ssh
connection drops, the window is closed — gets a SIGHUP: from the kernel when the agent leads the session, or from
the shell passing its own on to its jobs. Taken as a reload, the agent ran on with nowhere to write: its stdout a
terminal that answers every write with EIO (a batch retried for ever), its journal moved to syslog, and a stop
waited its whole shutdown_timeout (found by the lead, session 26). Go's runtime, Filebeat's, ends at such a SIGHUP;
Vector and Fluentd reload, as shipper did.

What tells the two apart: at a hang-up the kernel takes the terminal from every process of the session (it has no
controlling terminal any more: /dev/tty cannot be opened), while a `kill -HUP` or `systemctl reload` leaves it as it
was. Under systemd the agent never has one, so every SIGHUP there is a reload. A terminal can also go away without
a signal: a background job of a shell that exits (bash sends no SIGHUP at a plain exit) is left without one, quietly,
and the operator's `kill -HUP` days later is a reload (found by exam28). So the main loop looks at the terminal
about twice a second (`look`); a SIGHUP is the hang-up's only when it comes with the loss — before a look saw the
terminal gone, or within HANGUP_GRACE of it (the kernel signals as it takes the terminal, a shell passes its SIGHUP
on at once). A hang-up stops the agent as SIGTERM
does (nothing is lost: what is not delivered is read again at the next start) — unless it was started under
`nohup` (SIGHUP ignored when it was started), which asks to outlive the terminal: then the hang-up is said and the
agent runs on. Either way a later SIGHUP is a reload again.
"""
from __future__ import annotations

import os
import signal
import time

HANGUP_GRACE = 0.5  # seconds after a look first saw the terminal gone in which a SIGHUP is still the hang-up's
LOOK_EVERY = 0.5  # seconds between the main loop's looks while the agent has a terminal


# The signals `shipper run` answers (a stop, a hang-up or a reload): never left blocked by whoever started it.
ANSWERED = (signal.SIGHUP, signal.SIGINT, signal.SIGTERM)


def unblock_answered() -> None:
    """Unblock the signals the agent answers, blocked in the mask it inherited (a blocked signal stays blocked across
    exec: a parent that blocked SIGHUP — a test runner's thread, a supervisor of its own — made the hang-up's SIGHUP
    wait for ever, and the hang-up was taken for a quiet loss of the terminal; a blocked SIGTERM would make every stop
    wait for the SIGKILL). Called first, before any thread: the threads started later inherit the mask."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, ANSWERED)


def has_terminal() -> bool:
    """Whether this process has a controlling terminal."""
    try:
        fd = os.open("/dev/tty", os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:  # ENXIO: none (a daemon, or one whose terminal hung up)
        return False
    os.close(fd)
    return True


class Hangups:
    """Tells, at each SIGHUP, whether it is the terminal's hang-up (once) or a reload."""

    def __init__(self, ignored_at_start: bool):
        self.ignored_at_start = ignored_at_start  # started under nohup: a hang-up is no reason to stop
        self._terminal = has_terminal()
        self._gone_seen: float | None = None  # when a look first found the terminal gone (monotonic)

    @property
    def watching(self) -> bool:
        """Whether the terminal the agent started with is still looked at (the main loop's looks)."""
        return self._terminal

    def look(self) -> bool:
        """The main loop's look: True once, when the terminal went away with no SIGHUP within HANGUP_GRACE (a
        quiet loss: any later SIGHUP is a reload)."""
        if not self._terminal:
            return False
        if self._gone_seen is None:
            if not has_terminal():
                self._gone_seen = time.monotonic()
            return False
        if time.monotonic() - self._gone_seen < HANGUP_GRACE:
            return False
        self._terminal = False
        return True

    def is_hangup(self) -> bool:
        """True the first time a SIGHUP comes with the loss of the terminal the agent started with."""
        if not self._terminal or has_terminal():
            return False
        self._terminal = False  # said once: any later SIGHUP is a reload
        return self._gone_seen is None or time.monotonic() - self._gone_seen < HANGUP_GRACE
