"""The journal when `shipper run` starts with its standard error closed (`2>&-`).

systemd always gives the agent a stderr (the journal, or /dev/null with StandardError=null); a closed one is a start
by hand or by a script that closed it. Python then has no sys.stderr, and descriptor 2 is free: the next file the agent
(or its checkpoint writer) opens would get it, and any write meant for stderr would land in that file. Before this
module the agent exited 1 without a word (faulthandler refused to start).

What it does instead, before anything is opened: descriptor 2 is taken by /dev/null, so no file gets it, and the
journal goes to the system's syslog socket (/dev/log, or SHIPPER_SYSLOG_SOCKET), each line one datagram (or one
newline-ended line on a stream socket: syslog-ng's `unix-stream`) with its priority (facility daemon, identifier
`shipper[pid]`), the first saying why. With no syslog socket to take it, the
agent refuses to start (exit 2, the reason written to the kernel's log, /dev/kmsg, when it may): an agent whose
warnings of lost data go nowhere breaks the promise that no loss is silent. `2>/dev/null` runs without a journal
on purpose. (Rust's runtime puts /dev/null on a closed descriptor 2, so Vector runs silently; a program that does
neither writes its log into whatever file takes descriptor 2 next: rsyslog/rsyslog#1526.)

A syslog daemon that stops reading (rsyslog held by a remote action that is down, a stuck journald) must not stop the
agent: a Unix datagram socket queues ten datagrams (net.unix.max_dgram_qlen), and a blocking send then held the thread
that logged, a file source in its warning, the stop in its `stopping` line (exam26d). The socket is non-blocking; lines
it does not take, or said while it is gone (a daemon restarting), wait in a bounded backlog that a thread sends as the
daemon reads again; past the bound, lines are
dropped until the backlog is sent, and then one line says how many (the journal cannot say it sooner: nobody reads it).
At exit the backlog has a few seconds to go. A daemon restarted without socket activation closes its socket with
the lines it had not read (exam27b): lines are kept until the kernel counts none unread, and sent again to the
socket bound again.
"""
from __future__ import annotations

import collections
import errno
import fcntl
import io
import os
import re
import select
import socket
import sys
import threading
import time

from shipper.journal_backlog import BACKLOG_LINES, LOSS, HeldJournal
from shipper.unread import unread_bytes

SOCKET = "/dev/log"
KMSG = "/dev/kmsg"
FACILITY_DAEMON = 3
# Syslog priorities of the lines without a `<N>` prefix (written by click, not the journal): `error: …` (a refusal
# before the journal is set up), and the others (`run --once`'s summary).
ERR, WARNING, NOTICE = 3, 4, 5
MAX_DATAGRAM = 16384  # a longer line is cut there (syslog daemons cut near 8-64 KiB anyway)
_PREFIX = re.compile(r"<([0-7])>")
UNREAD_LOOK = 0.2  # seconds between looks at whether syslog read the lines sent (while some are unread)
KMSG_LINES, KMSG_LINE = 8, 900  # lines of it said in the kernel's log at exit when syslog did not take them; their length
KMSG_WINDOW = 5.0  # seconds over which a journal with nowhere else to go says at most KMSG_LINES there (_KernelLogOnly)
_SENT_PRIORITY = re.compile(rb"<(\d+)>")


def for_the_kernel_log(urgent: list[str]) -> list[str]:
    """Of the warnings and errors a stalled journal still held at the exit, the KMSG_LINES the kernel's log is given
    (its rate limit takes ten lines from a program at once, the count's line one of them): those naming a loss first
    (a loss must be named: a `data lost` the backlog kept behind 1,200 later warnings went nowhere, exam30a), the last
    of the others in the room left; in their order."""
    loss = LOSS.decode()
    losses = [i for i, line in enumerate(urgent) if loss in line][-KMSG_LINES:]
    others = [i for i, line in enumerate(urgent) if loss not in line]
    room = KMSG_LINES - len(losses)
    chosen = sorted(losses + (others[len(others) - room:] if room else []))
    return [urgent[i].rstrip("\n")[:KMSG_LINE] for i in chosen]


def said_at_exit(urgent: list[str]) -> str:
    """The end of the count's line: how many warnings or errors, and how many of them name a loss."""
    losses = sum(LOSS.decode() in line for line in urgent)
    return f"{len(urgent)} warnings or errors" + (f", {losses} naming a loss," if losses else "")

REFUSED = ("shipper: standard error is closed (2>&-) and there is no syslog socket ({path}) to send the journal to: "
           "refusing to run with nowhere to say what it loses; start it with its stderr open (2>/dev/null runs "
           "without a journal)")


def stderr_closed() -> bool:
    try:
        fcntl.fcntl(2, fcntl.F_GETFD)
        return False
    except OSError as e:
        return e.errno == errno.EBADF


class SyslogStream(HeldJournal):
    """sys.stderr when it was closed: each line written, one syslog datagram (a newline-ended line on a stream
    socket). A line starting `<N>` (log.setup's PriorityPrefix) has that priority, `error: …` is an error, others a
    notice."""

    sender_name = "journal-syslog"

    def __init__(self, path: str):
        super().__init__()
        self.path = path
        self._stream = False  # a stream socket: each line ends with a newline, and a send may take part of one
        self._away = False  # the socket was gone at the last send (a restart): lines wait in the backlog meanwhile
        # Lines the socket took that syslog has not read yet (the kernel counts them: SIOCOUTQ); a daemon that
        # restarts closes its socket with them (exam27b), so they are sent again to the socket that replaces it.
        self._unread: collections.deque[bytes] = collections.deque()
        self._unread_over = 0  # lines sent while BACKLOG_LINES were unread: too many to keep for sending again
        self._inode = 0  # the socket file's inode when connected (_connect)
        self._sock = self._connect()

    def _connect(self) -> socket.socket:
        """A datagram socket, or, where the daemon listens on a stream (syslog-ng's `unix-stream("/dev/log")`), a
        stream one: glibc's syslog(3) and Python's SysLogHandler do the same on EPROTOTYPE."""
        for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
            sock = socket.socket(socket.AF_UNIX, kind)
            sock.set_inheritable(False)
            # Non-blocking from the connect on: a stream daemon whose accept queue is full answers EAGAIN (retried
            # later) instead of holding the thread that logs (exam27b: shipping stopped, SIGTERM did not end it).
            # Its writes too, faulthandler's: dropped rather than the process held.
            sock.setblocking(False)
            try:
                sock.connect(self.path)
            except OSError as e:
                sock.close()
                if e.errno == errno.EPROTOTYPE and kind == socket.SOCK_DGRAM:
                    continue
                raise
            self._stream = kind == socket.SOCK_STREAM
            try:
                self._inode = os.stat(self.path).st_ino  # which socket this is (a restarted daemon binds another)
            except OSError:
                self._inode = 0
            return sock
        raise AssertionError("unreachable: the stream attempt returns or raises")

    def fileno(self) -> int:
        return self._sock.fileno()  # faulthandler's tracebacks (a watchdog abort) go there too, in pieces

    def write(self, s: str) -> int:
        self._pending += s
        *lines, self._pending = self._pending.split("\n")
        for line in lines:
            self._send(line)
        return len(s)

    def _send(self, line: str) -> None:
        m = _PREFIX.match(line)
        priority, text = (int(m.group(1)), line[m.end():]) if m else (ERR if line.startswith("error:") else NOTICE,
                                                                        line)
        self._send_now(self._message(priority, text))

    def _message(self, priority: int, text: str) -> bytes:
        data = f"<{FACILITY_DAEMON * 8 + priority}>shipper[{os.getpid()}]: {text}".encode(errors="replace")
        return data[:MAX_DATAGRAM - 1] + b"\n" if self._stream else data[:MAX_DATAGRAM]

    def _framed(self, data: bytes) -> bytes:
        """data as the socket connected now takes a line: newline-ended on a stream, without it in a datagram (a
        line held or kept unread may have been made for the other kind: the daemon swapped for one listening on the
        other, exam27b: datagram lines ran together on the stream)."""
        if self._stream:
            return data if data.endswith(b"\n") else data + b"\n"
        return data[:-1] if data.endswith(b"\n") else data

    def _unsent(self, data: bytes) -> bytes:
        """What the socket did not take of `data`: all of it while the socket's queue is full or syslog is away (its
        socket removed or refusing: a restart), the rest of a stream's line; b"" when all was sent."""
        if self._away:
            if not self._reconnected():
                return data
            if self._backlog and self._backlog[0] is not data:
                return data  # the lines the old socket left unread go first (_reconnected put them in front)
        for attempt in (1, 2):
            framed = self._framed(data)
            try:
                sent = self._sock.send(framed, socket.MSG_NOSIGNAL)
            except BlockingIOError:
                return data
            except OSError:
                if attempt == 2 or not self._reconnected():  # the syslog daemon restarted: its socket is a new one
                    self._away = True
                    return data
                if self._backlog and self._backlog[0] is not data:
                    return data
                continue
            self._taken(framed[:sent])
            return framed[sent:]
        return data

    def _taken(self, data: bytes) -> None:
        """The socket took data: kept until syslog has read it (watched by the sender thread)."""
        if len(self._unread) >= BACKLOG_LINES:
            self._unread.popleft()
            self._unread_over += 1
        self._unread.append(data)
        self._start_sender()

    def _still_unread(self) -> bool:
        """Whether syslog has yet to read some of the lines its socket took; forgets them once it read them all.
        The kernel's count of them also falls to nothing when the daemon's socket closes with them unread: that
        is told apart by the socket itself (_peer_gone), and they are then sent again once a socket is back."""
        if not self._unread:
            return False
        if self._away:
            self._reconnected()  # once back, the unread lines are at the head of the backlog
            return True
        left = unread_bytes(self._sock.fileno())
        if left is None or left:  # (None: the kernel cannot tell: taken for unread)
            return True
        if self._peer_gone():
            self._away = True
            return True
        self._unread.clear()
        self._unread_over = 0
        return False

    def _peer_gone(self) -> bool:
        """Whether the daemon's socket closed (a restart), rather than read what it was sent. A stream connection
        closed with bytes unread carries ECONNRESET; a datagram socket's path refuses a connection, is gone, or is
        another socket (bound again)."""
        if self._stream:
            return self._sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) != 0
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            probe.connect(self.path)
            return os.stat(self.path).st_ino != self._inode
        except OSError:
            return True
        finally:
            probe.close()

    def _reconnected(self) -> bool:
        try:
            sock = self._connect()
        except OSError:
            return False
        self._sock.close()
        self._sock, self._away = sock, False
        if self._unread:  # the old socket went with them: sent again first, said as such
            again = list(self._unread)
            note = self._message(WARNING, f"syslog ({self.path}) restarted before it had read the last "
                                          f"{len(again) + self._unread_over} journal lines sent to it: they went "
                                          "with its old socket, and are sent again below"
                                          + (f" (the {self._unread_over} before them were too many to keep: lost)"
                                             if self._unread_over else "")
                                          + "; those it had read as it restarted are repeats")
            self._unread.clear()
            self._unread_over = 0
            self._put_in_front([note, *again])
        return True

    def _dropped_note(self, dropped: int, weighty: int) -> bytes:
        return self._message(ERR, f"syslog ({self.path}) did not read the journal: {dropped} lines of it were dropped "
                                  f"here ({weighty} warnings or errors among them; the agent went on)")

    def _weighty(self, data: bytes) -> bool:
        m = _SENT_PRIORITY.match(data)
        return m is not None and int(m.group(1)) % 8 <= 4

    def _sender_done(self) -> bool:
        return not self._still_unread()  # the sender watches the lines sent until syslog has read them

    def _idle_wait(self) -> float:
        return 1.0 if self._away else UNREAD_LOOK  # (away: a reconnect is tried each second)

    def _left_at_exit(self) -> None:
        """What syslog did not take before the exit, in the kernel's log (as the start's refusal is): how many lines,
        then the last warnings and errors among them (a stop's `data lost`), as many as the kernel takes from a
        program at once (printk_devkmsg's rate limit: ten lines in a burst). Before, they went with the process,
        unsaid (exam26d)."""
        if not self._backlog and not self._dropped:
            return
        held = [bytes(line) for line in self._backlog]
        urgent = [_SENT_PRIORITY.sub(b"", line, count=1).decode(errors="replace") for line in held
                  if self._weighty(line)]
        to_kernel_log(f"shipper[{os.getpid()}]: syslog ({self.path}) did not read the journal: "
                       f"{len(held) + self._dropped} lines of it were left unsent at the exit "
                       f"({said_at_exit(urgent)} among the last {len(held)}; those naming a loss and the last of "
                       "them follow)")
        for line in for_the_kernel_log(urgent):
            to_kernel_log(line)

    def _wait_for_room(self, timeout: float) -> None:
        """Until the socket takes more, or `timeout`: syslog away, a reconnect is tried again after it."""
        if self._away:
            time.sleep(timeout)  # (a socket that lost its peer is always "writable")
        else:
            select.select([], [self._sock], [], timeout)


def take_closed_stderr() -> str | None:
    """When descriptor 2 is closed: it is given /dev/null, and sys.stderr becomes a SyslogStream (None returned); with
    no syslog socket, the reason the agent must not run (written to the kernel's log when it may be). When stderr is
    open: None, nothing done."""
    if not stderr_closed():
        return None
    _null_on_stderr()
    path = _socket_path()
    try:
        sys.stderr = SyslogStream(path)
    except OSError as e:
        reason = REFUSED.format(path=f"{path}: {e.strerror}")
        to_kernel_log(reason)
        return reason
    return None


class KernelLogOnly(io.TextIOBase):
    """The journal once it has nowhere else to go (no syslog socket): its warnings and errors in the kernel's log, at
    most KMSG_LINES every KMSG_WINDOW seconds (those beyond counted, the count said before the next one), a line naming
    a loss always; its other lines nowhere. Before, every line went nowhere: a terminal's hang-up, which also broke
    the journal on that terminal, named the lines it took unread to no one (exam30a)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending = ""
        self._window = -KMSG_WINDOW  # time.monotonic() the current window began
        self._said = 0  # lines said in it
        self._unsaid = 0  # warnings and errors not said since the last one said

    def writable(self) -> bool:
        return True

    def write(self, s: str) -> int:
        with self._lock:
            self._pending += s
            *lines, self._pending = self._pending.split("\n")
            for line in lines:
                self._line(line)
        return len(s)

    def _line(self, line: str) -> None:
        m = _PREFIX.match(line)
        priority, text = (int(m.group(1)), line[m.end():]) if m else (ERR if line.startswith("error:") else NOTICE,
                                                                        line)
        if priority > WARNING:
            return
        now = time.monotonic()
        if now - self._window >= KMSG_WINDOW:
            self._window, self._said = now, 0
        if self._said >= KMSG_LINES and LOSS.decode() not in text:
            self._unsaid += 1
            return
        if self._unsaid:
            to_kernel_log(f"shipper[{os.getpid()}]: {self._unsaid} warnings or errors of its journal were not said "
                          f"here (at most {KMSG_LINES} every {KMSG_WINDOW:g} s, besides those naming a loss)")
            self._unsaid = 0
        to_kernel_log(f"shipper[{os.getpid()}]: {text}"[:KMSG_LINE])
        self._said += 1


_broken_lock = threading.Lock()
_broken: list[io.TextIOBase] = []  # where the journal went once stderr broke: a SyslogStream, or nowhere


def take_broken_stderr() -> io.TextIOBase:
    """stderr broke mid-run — its reader went away (a `logger` or `tee` killed: EPIPE), or its file cannot be written
    (a full disk: ENOSPC, EIO; shipper.log.BROKEN): the journal goes
    to syslog from here, as when stderr was closed at the start, and sys.stderr with it; descriptor 2 is given
    /dev/null (no more EPIPE for faulthandler or a child started later). With no syslog socket, the reason is written
    to the kernel's log and the journal goes nowhere: the agent runs on (it ships; stopping it would lose more than
    its journal). Before, every later line, a `data lost` too, went nowhere unsaid (exam26d). The same stream for
    every thread that meets the break."""
    with _broken_lock:
        if not _broken:
            _null_on_stderr()
            path = _socket_path()
            try:
                stream: io.TextIOBase = SyslogStream(path)
            except OSError as e:
                to_kernel_log(f"shipper[{os.getpid()}]: its standard error broke (its reader gone, or its file not "
                               "writable) and there is no "
                               f"syslog socket ({path}: {e.strerror}) to send the journal to: from here only its "
                               "warnings and errors come here, a few every few seconds (every one naming a loss)")
                stream = KernelLogOnly()
            sys.stderr = stream
            _broken.append(stream)
        return _broken[0]


def _null_on_stderr() -> None:
    """Descriptor 2 becomes /dev/null: no file opened later gets it, no write to it fails (EPIPE)."""
    null = os.open(os.devnull, os.O_WRONLY)  # when 2 is closed, the lowest free descriptor: 2 itself
    if null != 2:
        os.dup2(null, 2)
        os.close(null)


def _socket_path() -> str:
    return os.environ.get("SHIPPER_SYSLOG_SOCKET") or SOCKET


def said() -> str | None:
    """The line the journal begins with when it went to syslog (logged once it is set up), else None."""
    if isinstance(sys.stderr, SyslogStream):
        return f"standard error is closed (2>&-): the journal goes to syslog ({sys.stderr.path}) instead"
    return None


def to_kernel_log(reason: str) -> None:
    try:
        fd = os.open(KMSG, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)  # (a file standing in for it: each line kept)
    except OSError:
        return  # not root, or no /dev/kmsg: the exit code alone says it
    try:
        os.write(fd, f"<{ERR}>{reason}\n".encode())
    except OSError:
        pass
    finally:
        os.close(fd)
