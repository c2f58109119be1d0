"""The journal when `shipper run` starts with its standard error closed (`2>&-`).

systemd always gives the agent a stderr (the journal, or /dev/null with StandardError=null); a closed one is a start
by hand or by a script that closed it. Python then has no sys.stderr, and descriptor 2 is free: the next file the agent
(or its checkpoint writer) opens would get it, and any write meant for stderr would land in that file. Before this
module the agent exited 1 without a word (faulthandler refused to start).

What it does instead, before anything is opened: descriptor 2 is taken by /dev/null, so no file gets it, and the
journal goes to the system's syslog socket (/dev/log, or SHIPPER_SYSLOG_SOCKET), each line one datagram with its
priority (facility daemon, identifier `shipper[pid]`), the first saying why. With no syslog socket to take it, the
agent refuses to start (exit 2, the reason written to the kernel's log, /dev/kmsg, when it may): an agent whose
warnings of lost data go nowhere breaks the promise that no loss is silent. `2>/dev/null` runs without a journal
on purpose. (Rust's runtime puts /dev/null on a closed descriptor 2, so Vector runs silently; a program that does
neither writes its log into whatever file takes descriptor 2 next: rsyslog/rsyslog#1526.)
"""
from __future__ import annotations

import errno
import fcntl
import io
import os
import re
import socket
import sys

SOCKET = "/dev/log"
KMSG = "/dev/kmsg"
FACILITY_DAEMON = 3
# Syslog priorities of the lines without a `<N>` prefix (written by click, not the journal): `error: …` (a refusal
# before the journal is set up), and the others (`run --once`'s summary).
ERR, NOTICE = 3, 5
MAX_DATAGRAM = 16384  # a longer line is cut there (syslog daemons cut near 8-64 KiB anyway)
_PREFIX = re.compile(r"<([0-7])>")

REFUSED = ("shipper: standard error is closed (2>&-) and there is no syslog socket ({path}) to send the journal to: "
           "refusing to run with nowhere to say what it loses; start it with its stderr open (2>/dev/null runs "
           "without a journal)")


def stderr_closed() -> bool:
    try:
        fcntl.fcntl(2, fcntl.F_GETFD)
        return False
    except OSError as e:
        return e.errno == errno.EBADF


class SyslogStream(io.TextIOBase):
    """sys.stderr when it was closed: each line written, one syslog datagram. A line starting `<N>` (log.setup's
    PriorityPrefix) has that priority, `error: …` is an error, others a notice."""

    def __init__(self, path: str):
        super().__init__()
        self.path = path
        self._pending = ""
        self._sock = self._connect()

    def _connect(self) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.set_inheritable(False)
        try:
            sock.connect(self.path)
        except OSError:
            sock.close()
            raise
        return sock

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._sock.fileno()  # faulthandler's tracebacks (a watchdog abort) go there too, in pieces

    def write(self, s: str) -> int:
        self._pending += s
        *lines, self._pending = self._pending.split("\n")
        for line in lines:
            self._send(line)
        return len(s)

    def flush(self) -> None:
        pass  # whole lines are sent as they come; a line is sent once its newline is written

    def _send(self, line: str) -> None:
        m = _PREFIX.match(line)
        priority, text = (int(m.group(1)), line[m.end():]) if m else (ERR if line.startswith("error:") else NOTICE,
                                                                        line)
        data = f"<{FACILITY_DAEMON * 8 + priority}>shipper[{os.getpid()}]: {text}".encode(errors="replace")
        for attempt in (1, 2):
            try:
                self._sock.send(data[:MAX_DATAGRAM])
                return
            except OSError:
                if attempt == 2:
                    return  # syslog gone: nowhere left to say it
                try:  # the syslog daemon restarted: its socket is a new one
                    self._sock.close()
                    self._sock = self._connect()
                except OSError:
                    return


def take_closed_stderr() -> str | None:
    """When descriptor 2 is closed: it is given /dev/null, and sys.stderr becomes a SyslogStream (None returned); with
    no syslog socket, the reason the agent must not run (written to the kernel's log when it may be). When stderr is
    open: None, nothing done."""
    if not stderr_closed():
        return None
    null = os.open(os.devnull, os.O_WRONLY)  # the lowest free descriptor: 2 (0 and 1 are open, or taken first)
    if null != 2:
        os.dup2(null, 2)
        os.close(null)
    path = os.environ.get("SHIPPER_SYSLOG_SOCKET") or SOCKET
    try:
        sys.stderr = SyslogStream(path)
    except OSError as e:
        reason = REFUSED.format(path=f"{path}: {e.strerror}")
        _to_kernel_log(reason)
        return reason
    return None


def said() -> str | None:
    """The line the journal begins with when it went to syslog (logged once it is set up), else None."""
    if isinstance(sys.stderr, SyslogStream):
        return f"standard error is closed (2>&-): the journal goes to syslog ({sys.stderr.path}) instead"
    return None


def _to_kernel_log(reason: str) -> None:
    try:
        fd = os.open(KMSG, os.O_WRONLY | os.O_CLOEXEC)
    except OSError:
        return  # not root, or no /dev/kmsg: the exit code alone says it
    try:
        os.write(fd, f"<{ERR}>{reason}\n".encode())
    except OSError:
        pass
    finally:
        os.close(fd)
