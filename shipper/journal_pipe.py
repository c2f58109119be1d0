"""The journal on a standard error that is a pipe, a socket or a terminal whose reader may stall.

`shipper run … 2>&1 | less` (the pager waiting at its prompt), `2> >(logger …)` with logger held by its syslog,
`| tee` on a slow disk, journald's stream socket while journald is stuck: the reader is there but does not read.
Written as a plain stream, a full pipe held every thread that logged in its write — a file source in its warning,
the stop in its `stopping` line — so shipping stopped and a SIGTERM did not end the agent (exam28). The journal
on syslog had this answer already (shipper.journal_syslog: a backlog, then counted drops); this is the same for
stderr: a line the pipe cannot take now waits in a bounded backlog that a thread writes as the reader reads again;
past the bound, lines are dropped until the backlog is written, and then one line says how many. At exit the
backlog has a few seconds to go. A reader that goes away (EPIPE) is still the journal handler's to answer (it moves
the journal to syslog: shipper.log.JournalHandler).

The same for a terminal whose output is suspended (Ctrl-S, XOFF) or whose ssh link stalls (exam28). A pipe or a
terminal is written through a descriptor of its own, opened non-blocking (/proc/self/fd/2 opens it again; a
terminal without becoming the controlling one), so descriptor 2 — shared with the shell, or whoever started the
agent — keeps its flags; a socket is sent to with MSG_DONTWAIT. A file is left as it is (it does not stall). What is
still held at the exit's end, or at a second signal's, is counted in the kernel's log with its last warnings, as the
journal on syslog does (before, a second signal's naming of a repeat went with the process: exam28).
"""
from __future__ import annotations

import errno
import os
import select
import socket
import stat
from typing import TextIO

from shipper.journal_stderr import StderrJournal
from shipper.unstalled import nonblocking_writer


class StalledReaderStream(StderrJournal):
    """A pipe's, socket's or terminal's stderr for the journal: never blocks the thread that logs
    (shipper.journal_backlog)."""

    sender_name = "journal-stderr"
    stalled = "standard error's reader did not read the journal"

    def __init__(self, fd: int, sock: socket.socket | None):
        super().__init__()
        self._fd = fd  # the pipe opened again, non-blocking (or the socket's descriptor)
        self._sock = sock

    def _unsent(self, data: bytes) -> bytes:
        """EPIPE (the reader gone) is raised to the thread that logs: the journal handler moves the journal to
        syslog (shipper.log.JournalHandler)."""
        try:
            if self._sock is not None:
                sent = self._sock.send(data, socket.MSG_DONTWAIT | socket.MSG_NOSIGNAL)
            else:
                sent = os.write(self._fd, data)
        except BlockingIOError:
            return data
        except OSError as e:
            # A stream's reader gone mid-line: ECONNRESET; a datagram's (its socket closed: a relay restarted):
            # ECONNREFUSED, then ENOTCONN — every line after it went nowhere (exam29a).
            if e.errno in (errno.ECONNRESET, errno.ECONNREFUSED, errno.ENOTCONN):
                raise BrokenPipeError(errno.EPIPE, "the reader of standard error went away") from e
            raise
        return data[sent:]

    def _send_held(self) -> bool:
        try:
            return super()._send_held()
        except OSError:  # the reader gone while lines were held: the next line logged moves the journal
            self._backlog.clear()
            return True

    def _wait_for_room(self, timeout: float) -> None:
        select.select([], [self._fd], [], timeout)


_made: list[StalledReaderStream] = []  # the one made (log.setup runs again at each reload)


def stalled_reader_stream(stderr: TextIO) -> TextIO | StalledReaderStream:
    """The journal's stream for `stderr`: a StalledReaderStream when descriptor 2 is a pipe, a socket or a terminal,
    else stderr itself (a file, /dev/null; or the journal moved to syslog: stderr is not descriptor 2)."""
    if isinstance(stderr, StderrJournal):  # (the journal's own stream already: a file's, whose descriptor 2 is a socket)
        return stderr
    try:
        if stderr.fileno() != 2:
            return stderr
    except (OSError, ValueError):  # (io.UnsupportedOperation is a ValueError and an OSError)
        return stderr
    if not _made and (made := _for_descriptor_2()) is not None:
        _made.append(made)
    return _made[0] if _made else stderr


def _for_descriptor_2() -> StalledReaderStream | None:
    try:
        st = os.fstat(2)
    except OSError:
        return None
    if stat.S_ISSOCK(st.st_mode):
        sock = socket.socket(fileno=os.dup(2))
        sock.set_inheritable(False)
        return StalledReaderStream(sock.fileno(), sock)
    if stat.S_ISFIFO(st.st_mode) or os.isatty(2):
        try:
            fd = nonblocking_writer(2)
        except OSError:  # (no /proc, or no reader left: the handler meets EPIPE on stderr itself)
            return None
        return StalledReaderStream(fd, None)
    return None
