"""`type: stdout` — one ECS JSON object per line (orjson), flushed per batch.

Faults (the written bytes are the truth, so a retry resumes after them):
- a write cut short by a full disk or an I/O error (ENOSPC, EDQUOT, EIO, ...) keeps how many bytes of
  the batch reached the file; the retry writes only the rest, so no line is torn or written twice.
  The daemon retries with backoff for ever (the worker shows the error in /health); `run --once`
  gives up after ONCE_ATTEMPTS and ends non-zero, first cutting the file back to where the batch
  began when it can (a regular file nobody else wrote to), so the next run writes the batch once; so does a stop or
  a reload that comes while the batch waits for its retry (close).
- the file cut under the agent while such a write waits for its retry (logrotate's copytruncate: the file now shorter
  than where the write ended): the batch's lines written before are in what was cut away (the copy) and stay
  written; the rest goes to the file's end (also without O_APPEND: no hole of zeros), from the start of the line the
  write had cut, which is named. Abandoned instead (a stop, a reload, --once giving up), those lines are told stored
  (ctx.stored), so the batch read again writes only the rest.
- into a pipe (or a FIFO), a batch is acknowledged only once its reader took it: the kernel counts the bytes
  still unread in the pipe (FIONREAD on the write end), and send() returns when none of the batch's are left.
  So a reader that dies loses nothing: what the pipe held is read again at the next start. The same into a Unix
  stream socket (socat EXEC, systemd's StandardOutput=socket), whose unread bytes SIOCOUTQ counts.
- into a datagram (or seqpacket) socket, whose messages it bounds in size: whole lines, at most PIPE_BUF bytes a
  message (a batch written whole was refused, EMSGSIZE, and retried for ever). For a line longer than a message can
  be, the socket's send buffer is raised (SO_SNDBUFFORCE as root, else up to net.core.wmem_max); one it still cannot
  take ends the run (exit 1), named once: no retry can send it. A seqpacket socket's batch is acknowledged once its
  reader took it, as a stream socket's; a datagram socket's reader gone leaves no sign (what it left unread is lost).
- EPIPE (the reader went away, `run --once | head -1`; ECONNRESET on a socket): the run ends with 141, like cat, after one warning
  naming the lines of the unacknowledged batch the reader already had: they are written again at the next start.
- stdout closed (`>&-`, or EBADF on a write): the run ends (exit 1) naming it; no retry can write there. So does a
  terminal that hung up (EIO on a character device: its ssh session gone; shipper/hangup.py stops the agent too).
  A terminal cannot tell what its reader has not read (TIOCOUTQ counts nothing on its side), so a batch written to
  one is acknowledged as written; what it still held at a hang-up (a reader that stalled: an ssh link, `docker
  attach`) the kernel drops. At the hang-up (EIO on a write, or at the close after the SIGHUP's stop) the last lines
  written to it, as many as a terminal holds unread (TERMINAL_HOLDS), are named once as possibly unread: they are
  not written again (exam28: 20 of 20 lost unnamed).
- a regular file that ends in a cut line when the process first writes (a run killed while a full disk held its
  write back): a newline ends that line first, named with its offset, so the first line written begins on its own
  instead of being glued onto it (its batch was not acknowledged: its event is written again whole).

`id_field` (off by default): each line carries its event's stable id under that key, for a reader
that drops repeats by it (a replay after a crash repeats the batches that were in flight).
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import select
import socket
import stat
import sys
import termios
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson
from pydantic import Field, field_validator

from shipper.api import Batch, EndRun, Output, OutputConfig, Stopping, lines_with_ids, nonblocking_writer, unread_bytes
from shipper_plugins.outputs.id_field import refuse_ecs_field

log = logging.getLogger("shipper.output.stdout")

# Standard output closed: nothing can be written, so the run ends (the batch not acknowledged is read again next start).
CLOSED = ("cannot write to stdout: it is closed (descriptor 1 is not open); start the agent with its standard output "
          "open (a file, a pipe, or /dev/null), or use another output")
# A terminal that hung up (its ssh session gone) answers every write with EIO for good: no retry can write there.
HUNG_UP = ("cannot write to stdout: its terminal hung up (EIO); the batch being written is read again at the next start "
           "(run the agent under systemd, or with its standard output on a file or a pipe, to outlive a terminal)")


class StdoutOutputConfig(OutputConfig):
    type: Literal["stdout"] = "stdout"
    delivery_settings = frozenset({"fsync"})
    # A kill -9 never loses what was written to the page cache; fsync only guards power cuts.
    fsync: bool = False
    # Each line carries its event's stable id under this key (null, the default: none), for a reader that
    # drops a replay's repeats by it; not an ECS field (e.g. _shipper_id, as the fluentd output writes).
    id_field: str | None = Field(default=None, min_length=1)

    @field_validator("id_field")
    @classmethod
    def _id_field_is_no_ecs_field(cls, v: str | None) -> str | None:
        return refuse_ecs_field(v)

    def where(self) -> str:
        """Every stdout output stores in the one place, the agent's standard output, whatever its keys say: `id_field`
        changes what a line carries, not where it goes. Taken for another place, a reload changing it owed the new
        output every batch in flight while the old one wrote them into the same file (exam25d: 7,000-11,000 events
        twice). The digest is that of a block without id_field, so notes saved before keep matching."""
        return super(StdoutOutputConfig, self.model_copy(update={"id_field": None})).where()


BACKOFF_BASE = 0.25  # seconds before the 2nd attempt of a failed batch (the worker waits 1 s more)
BACKOFF_MAX = 30.0
ONCE_BACKOFF_MAX = 2.0
ONCE_ATTEMPTS = 6  # `run --once`: ~10 s of a full disk, then a clear error and exit 1
# One writer of the process's stdout at a time: a stdout output a reload replaced may still be inside a
# write blocked on a full pipe (its reader paused); its replacement writing meanwhile would tear lines
# (pipe writes over PIPE_BUF bytes are not atomic). The old one finishes its batch first.
_WRITING = threading.Lock()
LOCK_WAIT = 0.25  # seconds between looks at the stop while another writer holds stdout
# Whether this process looked at how stdout's file ends before its first write (under _WRITING): once a process,
# since a reload's new output must not end the line an old one's retry is still writing.
_line_start_checked = False
TORN_LOOK_BACK = 16 << 20  # bytes read back at most to find where a cut line begins
# Bytes a pseudo-terminal holds written and unread at most: its master side's buffer (64 KiB) and line discipline
# (4 KiB), and the carriage returns output processing adds.
TERMINAL_HOLDS = 72 << 10


class _TerminalTail:
    """The last lines written to a terminal, those with a byte in the last TERMINAL_HOLDS it may hold unread: said once
    as possibly unread when it hangs up. Counted by line, not by batch: a batch of 32 lines of 30 KB was named whole,
    0.9 MB as what a terminal holds, lines its reader had read among them (exam30a)."""

    def __init__(self) -> None:
        self._lines: deque[int] = deque()  # the lengths of the last lines written (acknowledged), in order
        self._bytes = 0
        self.said = False

    def written(self, parts: list[bytes]) -> None:
        last = _last_line_lengths(parts, TERMINAL_HOLDS)
        self._lines += last
        self._bytes += sum(last)
        while self._lines and self._bytes - self._lines[0] >= TERMINAL_HOLDS:
            self._bytes -= self._lines.popleft()

    def say_hung_up(self, output: str) -> None:
        """Once: the lines that may have been unread in the terminal when it hung up."""
        if self.said or not self._lines:
            return
        self.said = True
        lines = len(self._lines)
        log.warning(f"stdout's terminal hung up: the last {lines} lines written to it ({self._bytes} bytes, those in "
                    "what a terminal can hold unread) may not have reached its reader (one that stalled: its unread lines "
                    "are dropped with the terminal); a terminal cannot tell what was read, so they were taken as "
                    "delivered and are not written again (stdout on a file or a pipe is waited for)",
                    extra={"output": output, "possibly_lost": lines})


def _last_line_lengths(parts: list[bytes], room: int) -> list[int]:
    """The lengths of the last lines of `parts` (lines may run from one part into the next), in order: the fewest whose
    bytes reach `room`, or all of them. Read from the end, so a batch's size does not matter."""
    lengths: list[int] = []
    total = 0
    carried = 0  # bytes of the line being measured that lie in the parts after this one
    for part in reversed(parts):
        end = len(part)  # where the measured line's bytes in this part end
        while end:
            # Its start: after the newline before it (its own newline, at end - 1, when it ends in this part)
            nl = part.rfind(b"\n", 0, end if carried else end - 1)
            if nl < 0:
                carried += end
                break
            lengths.append(carried + end - nl - 1)
            total += lengths[-1]
            carried, end = 0, nl + 1
            if total >= room:
                return lengths[::-1]
    if carried:
        lengths.append(carried)  # the first line
    return lengths[::-1]


_terminal_writers: dict[tuple[int, int, int], int] = {}  # a terminal's (dev, inode, rdev): its non-blocking description


def _terminal_writer(fd: int, mode: int) -> int:
    """What a batch is written through: `fd` itself, or for a terminal a description of it opened again non-blocking
    (/proc/self/fd, without becoming the controlling terminal; the shared one keeps its flags), so a write into a
    terminal whose reader stalled returns what it took instead of blocking inside the call: the bytes of the batch
    in the terminal are counted (written.done), and a stop meanwhile names its lines as a repeat (cut_short). A
    blocking write counted none of them: 39 lines and a cut one written again unnamed (exam27b)."""
    if not stat.S_ISCHR(mode):  # (`mode`: _mode's)
        return fd
    try:
        st = os.fstat(fd)
        if not os.isatty(fd):
            return fd
        key = (st.st_dev, st.st_ino, st.st_rdev)
        if key not in _terminal_writers:
            _terminal_writers[key] = nonblocking_writer(fd)
        return _terminal_writers[key]
    except OSError:
        return fd  # (no /proc, or the terminal gone: the write on fd says what is wrong)


def _hung_up(fd: int) -> bool:
    """Whether the terminal `fd` hung up: a write, even of nothing, answers EIO for good then."""
    try:
        os.write(fd, b"")
    except OSError as e:
        return e.errno == errno.EIO
    return False


@dataclass
class _Written:
    """How far a batch got: bytes written, and the file offset it started at (None: not a regular file)."""

    batch: Batch
    done: int
    start: int | None
    parts: list[bytes] | None = None  # the batch's bytes, as the write takes them (for cut_short)
    # Bytes of the batch written before the file was cut under the agent (copytruncate): in what was cut away, not in
    # the file. The file holds the batch's bytes [moved, done) from offset `start`.
    moved: int = 0
    # Into a socket: each send is made under the lock, and none after a stop named the lines written (cut_short), so
    # that count is what the reader gets. A blocking write the stop came during could still land after it (its data
    # queued as the process ended): 11 lines more than named (exam27b).
    lock: threading.Lock = field(default_factory=threading.Lock)
    named: bool = False


class StdoutOutput(Output):
    Config = StdoutOutputConfig
    config: StdoutOutputConfig
    takes_lines = True  # send() writes Batch.lines as they are
    finishes_sends = True  # a write blocked on a paused pipe reader cannot be taken back: a reload waits for it
    reads_index_keys = False
    descriptors_kept = 0  # (standard output: the agent's own, counted in shipper.fdlimit.AGENT_OWN)

    def __init__(self, config, ctx):
        super().__init__(config, ctx)
        self._written: _Written | None = None  # the batch a failed write cut, kept for its retry
        self._failures = 0  # failed attempts of that batch
        self.trouble: str | None = None  # the write error while it lasts: /health's last_error (OutputWorker.error_now)
        self._id_clash_said = False  # the warning that id_field names a field of the events' own: once
        self._tcp: bool | None = None  # stdout is a TCP socket (None: not looked at yet; looked at once, said once)
        self._terminal: _TerminalTail | None | bool = None  # stdout's terminal's last lines (False: no terminal)

    def send(self, batch: Batch) -> None:
        # orjson writes each line's newline itself (no join copy of the batch); the lines go out
        # in one writev per IOV_MAX lines, so the lines of a batch reach the file together.
        # A batch from parse workers arrives as those same lines, already joined.
        if self.config.id_field:
            data, left = lines_with_ids(batch, self.config.id_field)
            lines = [data]
            if left and not self._id_clash_said:
                self._id_clash_said = True
                log.warning("id_field names a field the events already have: left as it is, so these lines carry "
                            "no id; choose another id_field", extra={"output": self.ctx.name,
                                                                    "id_field": self.config.id_field})
        elif batch.lines is not None:
            lines = [batch.lines]
        else:
            dumps = orjson.dumps
            lines = [dumps(ev, option=NEWLINE) for ev in batch.events]
        if sys.stdout is None:  # started with descriptor 1 closed (`>&-`): Python made no sys.stdout
            raise EndRun(CLOSED)
        out = sys.stdout.buffer
        try:
            fd = out.fileno()
        except (AttributeError, OSError, ValueError):
            fd = -1  # not a real file (a test's capture): through the buffer
        if fd < 0:
            out.write(b"".join(lines))
            out.flush()
            return
        out.flush()  # anything written through the buffer before goes first
        written = self._written
        if written is not None and written.batch is not batch:
            self._undo(fd, written)  # that batch was taken back (stop, reload): it is read again
            written = None
        if written is not None and self.ctx.stop.wait(min(ONCE_BACKOFF_MAX if self.ctx.once else BACKOFF_MAX,
                                                          BACKOFF_BASE * 2 ** (self._failures - 1))):  # a retry
            self._undo(fd, written)
            raise Stopping()
        mode = _mode(fd)  # what stdout is: one fstat a batch for every look below (each made its own: five)
        if written is None:
            written = self._written = _Written(batch, 0, _regular_file_offset(fd, mode))
            self._failures = 0
        written.parts = lines
        while not _WRITING.acquire(timeout=LOCK_WAIT):
            if self.ctx.stop.is_set():
                self._written = None if not written.done else written
                raise Stopping()
        counted = _reader_count(fd, mode)  # a pipe's or a Unix socket's: what its reader has not taken is known
        # A datagram (or seqpacket) socket takes a batch only as messages of bounded size: whole lines, a few at a time
        messages = counted is None and _message_socket(fd, mode) is not None
        if counted == termios.TIOCOUTQ and self._tcp is None:
            self._say_tcp(fd)
        try:
            if not _line_start_checked:
                self._begin_on_a_new_line(fd, written)
            if written.done and written.start is not None and (size := os.fstat(fd).st_size) < _end(written):
                self._resume_after_a_cut(fd, written, size)
            elif not written.done and written.start is not None:
                self._begin_at_the_end(fd, written)
            if counted is not None or messages:
                _write_whole_lines(fd, lines, written)
            else:
                _write_all(_terminal_writer(fd, mode), lines, written)
        except OSError as e:
            if e.errno == errno.EMSGSIZE:  # one line longer than a message of the socket: no retry sends it
                self._written = None
                raise EndRun(_too_long_for_a_message(written)) from None
            if e.errno == errno.EPIPE or (e.errno == errno.ECONNRESET and counted is not None):
                self._reader_gone(fd, written, counted)
            if e.errno == errno.EBADF:  # descriptor 1 closed under the agent: no retry can write there
                self._written = None
                raise EndRun(CLOSED) from None
            if e.errno == errno.EIO and stat.S_ISCHR(os.fstat(fd).st_mode):  # a device gone: a hung-up terminal
                self._written = None
                if isinstance(self._terminal, _TerminalTail):
                    self._terminal.say_hung_up(self.ctx.name)
                raise EndRun(HUNG_UP) from None
            self._failures += 1
            self.trouble = f"cannot write to stdout: {e.strerror} (attempt {self._failures}, retrying)"
            if self.ctx.once and self._failures >= ONCE_ATTEMPTS:
                kept = self._undo(fd, written)
                raise EndRun(f"cannot write to stdout ({e.strerror}) after {self._failures} attempts; "
                             + ("the batch's partial write was cut back, " if kept else "")
                             + "its events not written are read again next run") from None
            raise OSError(e.errno, f"cannot write to stdout ({e.strerror}); {written.done} bytes of the batch "
                                   "written, the retry resumes after them") from None
        finally:
            _WRITING.release()
        if counted is not None and not _taken(fd, self.ctx.stop, counted):
            self._reader_gone(fd, written, counted)
        if self._terminal is None:
            self._terminal = _TerminalTail() if os.isatty(fd) else False
        if isinstance(self._terminal, _TerminalTail):
            self._terminal.written(lines)
        self._written = None
        self._failures = 0
        self.trouble = None
        if self.config.fsync:
            try:
                os.fsync(fd)
            except OSError:
                pass  # pipes and terminals cannot be synced

    def _begin_on_a_new_line(self, fd: int, written: _Written) -> None:
        """Before this process's first write (under _WRITING): when stdout is a regular file whose last byte is no
        newline (a run killed while its write was cut short), write one, naming the cut line. An OSError (the disk
        still full) is the batch's failure with nothing of it written: retried like it, the look again first."""
        global _line_start_checked
        cut = _cut_line(fd)
        if cut is not None:
            os.write(fd, b"\n")
            written.start = _regular_file_offset(fd, _mode(fd))  # the batch begins after the newline (_undo cuts back to it)
            start, end, path = cut
            where = (f"bytes {start} to {end}" if start is not None else
                     f"more than {TORN_LOOK_BACK} bytes up to byte {end}")
            log.warning(f"output {self.ctx.name}: stdout's file {path} ends in a cut line ({where}, no newline): an "
                        "earlier run ended while writing it (a full disk, then a kill?); a newline ends it here so "
                        "that the next line begins on its own. It is the start of an event whose batch was not "
                        "acknowledged: that event is written again whole",
                        extra={"output": self.ctx.name, "torn_offset": start, "torn_end": end})
        _line_start_checked = True

    def _resume_after_a_cut(self, fd: int, written: _Written, size: int) -> None:
        """Before a retry (under _WRITING): the file is shorter than where the cut write ended, cut under the agent
        (logrotate's copytruncate) while the batch waited. Resumed where the bytes written were, the rest of the cut
        line began the emptied file and its event was readable nowhere (exam25d). The lines written are in what was
        cut away (the copy) and stay written; the cut line is written again whole, from the file's end."""
        head = self._say_cut_away(fd, written, size, "is written again whole here, from the file's end")
        os.lseek(fd, size, os.SEEK_SET)  # (a writer without O_APPEND would leave a hole of zeros up to its offset)
        written.start, written.done, written.moved = size, head, head
        if _cut_line(fd) is not None:  # the file was cut inside a line: the batch's lines begin on their own
            os.write(fd, b"\n")
            written.start = size + 1

    def _begin_at_the_end(self, fd: int, written: _Written) -> None:
        """Before a batch's first write (under _WRITING): a file not opened for appending (`>`, systemd's
        StandardOutput=file:) that was cut under the agent (copytruncate) is shorter than the descriptor's offset;
        written there, the batch followed a hole of zeros as long as what was cut away. Written from its end."""
        size = os.fstat(fd).st_size
        if written.start is None or written.start <= size or fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_APPEND:
            return
        path = _path(fd)
        log.warning(f"output {self.ctx.name}: stdout's file {path} is {size} bytes, shorter than where the agent's "
                    f"writes had got ({written.start}): cut under the agent (logrotate's copytruncate?); stdout is not "
                    "opened for appending, so the agent writes on from the file's end, not behind a hole of zeros "
                    "(open it with >>, or systemd's StandardOutput=append:)",
                    extra={"output": self.ctx.name, "file_size": size, "offset": written.start})
        written.start = os.lseek(fd, size, os.SEEK_SET)

    def _say_cut_away(self, fd: int, written: _Written, size: int, then: str) -> int:
        """The warning that stdout's file was cut below where the batch's write ended; returns where the cut line
        begins in the batch (the bytes before it, whole lines, are written: in what was cut away)."""
        data = b"".join(written.parts or ())
        head = data.rfind(b"\n", 0, written.done) + 1
        path = _path(fd)
        lines, total = data.count(b"\n", 0, head), data.count(b"\n")
        log.warning(f"output {self.ctx.name}: stdout's file {path} shrank under the agent to {size} bytes (truncated: "
                    f"logrotate's copytruncate?) while a write that a full disk or an I/O error cut short at byte "
                    f"{_end(written)} waited for its retry: the {lines} lines of its batch of {total} written before "
                    f"are in what was cut away (the copy) and are not written again; the line it cut, whose first "
                    f"{written.done - head} bytes end what was cut away (a cut line there), {then}",
                    extra={"output": self.ctx.name, "file_size": size, "write_end": _end(written),
                           "lines_cut_away": lines, "cut_line_bytes": written.done - head})
        return head

    def _stored_lines(self, written: _Written, upto: int) -> None:
        """The batch abandoned (a stop, a reload, --once giving up): its whole lines before byte `upto`, in what was cut
        away from the file, are stored; told to the agent (ctx.stored), they are not written again with the rest."""
        if upto and (lines := b"".join(written.parts or ()).count(b"\n", 0, upto)):
            self.ctx.stored(written.batch, range(lines))

    def _say_tcp(self, fd: int) -> None:
        """Once: stdout a TCP socket. Its kernel tells what the peer's kernel acknowledged, not what its reader read:
        a batch counts as delivered once acknowledged there, and what the reader had not read when it goes away is
        lost without a count (exam26d: 2,945 of 3,000 lines). Said, with what to use instead."""
        self._tcp = _stream_socket_family(fd) in (socket.AF_INET, socket.AF_INET6)
        if self._tcp:
            log.warning(f"output {self.ctx.name}: stdout is a TCP socket: a batch counts as delivered once the peer's "
                        "kernel has acknowledged it, since TCP does not tell what its reader read; what the reader has "
                        "not read when it goes away is lost, and no count of it can be given. A pipe or a Unix socket "
                        "(socat UNIX-CONNECT, StandardOutput=socket with a Unix ListenStream) is counted up to its "
                        "reader; or use the fluentd output, whose server acknowledges what it stored",
                        extra={"output": self.ctx.name})

    def _reader_gone(self, fd: int, written: _Written, counted: int | None) -> None:
        """EPIPE: the reader of the pipe (or socket) went away. The batch is not acknowledged (read again at the next
        start); the lines of it the reader took are so written twice: named once, with their count. Earlier batches
        were acknowledged only once the reader took them (_taken), so nothing it held unread is lost. A pipe still
        counts its unread bytes after the reader left; a socket frees them with its reader: then every line written
        of the batch may have reached it, and is named as a possible repeat."""
        self._written = None
        data = b"".join(written.parts or ())
        socket_gone = counted == termios.TIOCOUTQ
        unread = 0 if socket_gone else unread_bytes(fd, termios.FIONREAD) or 0
        took = max(0, written.done - unread)
        lines, total = data.count(b"\n", 0, took), data.count(b"\n")
        if took and socket_gone:
            log.warning(f"output {self.ctx.name}: the reader of stdout (a socket) went away: up to {lines} of the "
                        f"{total} lines of the batch being written had reached it (a socket does not tell how many "
                        f"once its reader is gone); the batch is not acknowledged, so they are written again at the "
                        f"next start (a possible repeat of {lines} lines); "
                        + ("what the peer's kernel had acknowledged of earlier batches and the reader had not read is "
                           "lost (TCP does not tell how much)" if self._tcp else
                           "nothing it left unread is lost (read again)"),
                        extra={"output": self.ctx.name, "repeated_lines": lines, "batch_lines": total,
                               "taken_bytes": took})
        elif took:
            log.warning(f"output {self.ctx.name}: the reader of stdout (a pipe) went away: {lines} of the {total} "
                        f"lines of the batch being written had reached it; the batch is not acknowledged, so these "
                        f"lines are written again at the next start (a repeat); the {unread} bytes it left unread "
                        f"in the pipe are not lost (read again)",
                        extra={"output": self.ctx.name, "repeated_lines": lines, "batch_lines": total,
                               "taken_bytes": took, "unread_bytes": unread})
        left = data.count(b"\n", took, written.done) if not socket_gone and unread else 0
        if left and (fifo := _named_fifo(fd)) is not None:
            # A FIFO's buffer lives while any end is open: a reader that restarts (a collector's new process) opens it
            # during this stop and reads them (exam28: 50 lines so, written again unnamed)
            log.warning(f"output {self.ctx.name}: the reader of stdout (the FIFO {fifo}) went away with {left} lines of "
                        "the batch being written unread in it: they are written again at the next start, and a reader "
                        f"that opens the FIFO before the agent has ended reads them there too (a possible repeat of "
                        f"{left} lines)", extra={"output": self.ctx.name, "repeated_lines": left, "batch_lines": total,
                                                 "unread_bytes": unread, "path": fifo})
        raise EndRun("", 141) from None

    def cut_short(self) -> str | None:
        """How much of the batch being written reached stdout (the agent stopping inside the write)."""
        written = self._written
        if written is None or written.parts is None or not written.lock.acquire(timeout=LOCK_WAIT):
            return None
        written.named = True  # no send after this (_send_now): the count stays true
        written.lock.release()
        if not written.done:
            return None
        done = before = 0
        for part in written.parts:
            if before < written.done:
                done += part.count(b"\n", 0, written.done - before)
            before += len(part)
        total = sum(part.count(b"\n") for part in written.parts)
        return f"{done} of the {total} lines of its batch"

    def probe(self) -> str:
        """For `shipper check --outputs`: what stdout is, and that it is open for writing (nothing written)."""
        fd = sys.stdout.fileno()
        st = os.fstat(fd)  # OSError (EBADF) when stdout is closed: that is the failure
        kind = next((name for test, name in ((stat.S_ISREG, "a file"), (stat.S_ISFIFO, "a pipe"),
                                             (stat.S_ISCHR, "a terminal or device"), (stat.S_ISSOCK, "a socket"))
                     if test(st.st_mode)), "something else")
        if fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE == os.O_RDONLY:
            raise OSError(f"stdout is {kind} opened read-only")
        return f"stdout is {kind}, open for writing" + (" (fsync after each batch)" if self.config.fsync else "")

    def close(self) -> None:
        """A stop (or a reload) while a batch cut short waits for its retry (the disk still full): the file is cut
        back to where that batch began, as --once's give-up does, since the batch is not acknowledged and is written
        whole when read again. Left in place, its lines were written twice (a SIGTERM during a full disk: 84-666
        events, tests/e2e/test_attack25_stdout_full_disk_sigterm_repeats.py)."""
        if isinstance(self._terminal, _TerminalTail) and sys.stdout is not None:
            with contextlib.suppress(AttributeError, OSError, ValueError):
                if _hung_up(sys.stdout.fileno()):  # (the SIGHUP's stop: no write met the hang-up)
                    self._terminal.say_hung_up(self.ctx.name)
        written = self._written
        if written is None or sys.stdout is None or not _WRITING.acquire(timeout=LOCK_WAIT):
            return  # (another output's write holds stdout: the next start names the cut line)
        try:
            self._undo(sys.stdout.fileno(), written)
        except (AttributeError, OSError, ValueError):
            pass
        finally:
            _WRITING.release()

    def _undo(self, fd: int, written: _Written) -> bool:
        """Cut a regular file back to where the abandoned batch began, if nobody else wrote after
        it: no torn line, and the batch (not acknowledged) is written whole when read again. The lines of
        it in what a copytruncate cut away (before or since) are told stored: the rest only is written again."""
        self._written = None
        if not written.done or written.start is None:
            return False
        try:
            end = _end(written)
            size = os.fstat(fd).st_size
            if size < end:
                self._stored_lines(written, self._say_cut_away(fd, written, size, "is written whole with the rest of "
                                                               "the batch when it is read again"))
                return False
            if os.lseek(fd, 0, os.SEEK_CUR) != end or size != end:
                return False
            os.ftruncate(fd, written.start)
            os.lseek(fd, written.start, os.SEEK_SET)
            self._stored_lines(written, written.moved)
            return True
        except OSError:
            return False


NEWLINE = orjson.OPT_APPEND_NEWLINE
IOV_MAX = os.sysconf("SC_IOV_MAX") if hasattr(os, "sysconf") else 1024


def _path(fd: int) -> str:
    """The path of the file open as `fd` (for the journal)."""
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return "(unknown)"


def _end(written: _Written) -> int:
    """The file offset where the batch's write ended (a regular file's)."""
    return (written.start or 0) + written.done - written.moved


def _mode(fd: int) -> int:
    """`fd`'s st_mode (its file type), 0 when it cannot be looked at (closed under the agent: the write says so)."""
    try:
        return os.fstat(fd).st_mode
    except OSError:
        return 0


def _regular_file_offset(fd: int, mode: int) -> int | None:
    if not stat.S_ISREG(mode):  # (`mode`: _mode's)
        return None
    try:
        return os.lseek(fd, 0, os.SEEK_CUR)
    except OSError:
        return None


def _cut_line(fd: int) -> tuple[int | None, int, str] | None:
    """When `fd` is a regular file whose byte before the next write is no newline: (where that last line begins,
    None if not within TORN_LOOK_BACK; where the next write goes; the file's path), else None. stdout is
    write-only: the file is read through a descriptor of its own (/proc/self/fd); pipes, ttys, sockets untouched."""
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return None
        end = st.st_size if fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_APPEND else os.lseek(fd, 0, os.SEEK_CUR)
        if end == 0:
            return None
        path = os.readlink(f"/proc/self/fd/{fd}")
        reader = os.open(f"/proc/self/fd/{fd}", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None  # cannot be read back (no /proc): written on as before
    try:
        if os.pread(reader, 1, end - 1) in (b"\n", b""):
            return None
        at = end - 1
        while at > max(0, end - TORN_LOOK_BACK):
            size = min(65536, at)
            block = os.pread(reader, size, at - size)
            nl = block.rfind(b"\n")
            if nl >= 0:
                return at - size + nl + 1, end, path
            at -= size
        return (0 if at == 0 else None), end, path
    except OSError:
        return None
    finally:
        os.close(reader)


def _named_fifo(fd: int) -> str | None:
    """The path of the FIFO (named pipe) `fd` writes to, or None (an anonymous pipe, which no one else can open)."""
    try:
        target = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return None
    return None if target.startswith("pipe:") else target


def _reader_count(fd: int, mode: int | None = None) -> int | None:
    """The ioctl that counts the bytes written to `fd` its reader has not taken yet: FIONREAD on a pipe's write end,
    SIOCOUTQ (TIOCOUTQ) on a stream socket: on a Unix one what the peer has not read (exam26d: a socket's batches were
    acknowledged unread in its buffer and lost with a reader that went away), on a TCP one what the peer's kernel
    has not acknowledged (the most TCP tells). So too on a Unix seqpacket socket, whose reader gone with messages unread
    is told as a stream's (ECONNRESET): they were acknowledged unread and lost with it (exam28). None for anything else
    (a file, a terminal, a datagram socket: its reader gone frees what it left unread without a sign). `mode`: _mode's
    (None: looked at here)."""
    if mode is None:
        mode = _mode(fd)
    if stat.S_ISFIFO(mode):
        return termios.FIONREAD
    if stat.S_ISSOCK(mode) and (_stream_socket_family(fd) is not None
                                or _message_socket(fd, mode) == socket.SOCK_SEQPACKET):
        return termios.TIOCOUTQ
    return None


def _message_socket(fd: int, mode: int) -> int | None:
    """SOCK_DGRAM or SOCK_SEQPACKET when `fd` is such a socket (each write one message, whose size the socket bounds:
    a batch written whole was refused, EMSGSIZE, and retried for ever), else None. `mode`: _mode's."""
    if not stat.S_ISSOCK(mode):
        return None
    try:
        with socket.socket(fileno=os.dup(fd)) as s:
            return s.type if s.type in (socket.SOCK_DGRAM, socket.SOCK_SEQPACKET) else None
    except OSError:
        return None


def _too_long_for_a_message(written: _Written) -> str:
    data = b"".join(written.parts or [])
    sent = data.count(b"\n", 0, written.done)
    end = data.find(b"\n", written.done)
    size = (len(data) if end < 0 else end + 1) - written.done
    return (f"cannot write to stdout: it is a datagram socket, and a line of {size} bytes is longer than one of its "
            "messages can be (EMSGSIZE); no retry can send it. The batch is read again at the next start"
            + (f" (its {sent} lines sent before that line are sent again)" if sent else "")
            + ": give stdout a pipe, a file or a stream socket, or a larger send buffer (SO_SNDBUF)")


def _stream_socket_family(fd: int) -> int | None:
    """AF_UNIX, AF_INET or AF_INET6 when `fd` is a stream socket of that family, else None."""
    try:
        if not stat.S_ISSOCK(os.fstat(fd).st_mode):
            return None
        with socket.socket(fileno=os.dup(fd)) as s:
            if s.type == socket.SOCK_STREAM and s.family in (socket.AF_UNIX, socket.AF_INET, socket.AF_INET6):
                return s.family
    except OSError:
        pass
    return None


def _write_whole_lines(fd: int, parts: list[bytes], written: _Written) -> None:
    """Into a pipe (or a Unix socket): whole lines, at most PIPE_BUF bytes a write, from byte `written.done`. Such a write is
    atomic (all or nothing, also when it blocks on a stalled reader), so a stop or a kill that cuts the
    batch leaves the reader whole lines only; a line longer than PIPE_BUF alone can still be cut."""
    data = parts[0] if len(parts) == 1 else b"".join(parts)
    view = memoryview(data)
    pos, end = written.done, len(data)
    sock = socket.socket(fileno=os.dup(fd)) if stat.S_ISSOCK(os.fstat(fd).st_mode) else None
    try:
        while pos < end:
            cut = data.rfind(b"\n", pos, pos + PIPE_BUF) + 1
            if cut <= pos:  # no line end within PIPE_BUF: one long line (or its rest) alone
                nl = data.find(b"\n", pos)
                cut = end if nl < 0 else nl + 1
            if sock is None:
                pos += _when_room(fd, os.write, view[pos:cut])
                written.done = pos
            else:
                try:
                    pos += _send_now(sock, view[pos:cut], written)
                except OSError as e:
                    if e.errno != errno.EMSGSIZE or not _send_buffer_raised(sock, cut - pos):
                        raise
    finally:
        if sock is not None:
            sock.close()


# The bytes a Unix datagram or seqpacket socket keeps of its send buffer beside a message (its skb's overhead): a
# message may be the buffer less these.
MESSAGE_OVERHEAD = 4096
SO_SNDBUFFORCE = getattr(socket, "SO_SNDBUFFORCE", 32)  # (Linux's: past net.core.wmem_max, with CAP_NET_ADMIN)


def _send_buffer_raised(sock: socket.socket, size: int) -> bool:
    """A message of `size` bytes refused as too long (EMSGSIZE: a datagram or seqpacket socket's send buffer bounds
    its messages): the buffer raised for it, as far as the agent may (SO_SNDBUFFORCE as root, else up to
    net.core.wmem_max). True if it grew. (At the kernel's default, ~208 KiB, one long audit line within max_line_bytes
    ended every run at it, the lines after it never shipped: exam28.)"""
    before = sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)
    want = size + MESSAGE_OVERHEAD  # (the kernel keeps twice what is set: room for the message and its overhead)
    if before >= 2 * want:
        return False
    for option in (SO_SNDBUFFORCE, socket.SO_SNDBUF):
        try:
            sock.setsockopt(socket.SOL_SOCKET, option, want)
        except OSError:
            continue
        if sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF) > before:
            return True
    return False


def _send_now(sock: socket.socket, data: memoryview, written: _Written) -> int:
    """One send into a stream socket that never blocks in the kernel (MSG_DONTWAIT: the descriptor's own flags, shared
    with other programs, stay as they are), counted in written.done under its lock; the wait for room is a poll
    outside it. Refused once a stop named the lines written (Stopping)."""
    while True:
        with written.lock:
            if written.named:
                raise Stopping()
            try:
                n = sock.send(data, socket.MSG_DONTWAIT)
            except BlockingIOError:
                n = 0
            written.done += n
        if n:
            return n
        poller = select.poll()
        poller.register(sock, select.POLLOUT)
        poller.poll(LOCK_WAIT * 1000)  # (a reader gone: POLLERR, and the send says EPIPE)


PIPE_BUF = select.PIPE_BUF
DRAIN_FIRST, DRAIN_MAX = 0.001, 0.05  # seconds between looks at a pipe its reader drains (doubling up to the max)


def _taken(fd: int, stop: threading.Event, request: int) -> bool:
    """Wait until the reader took every byte written (then the batch is its reader's, to acknowledge), and return
    True; False when the reader went away first with some of them unread: poll says POLLERR (a pipe without reader)
    or POLLHUP while bytes are unread; on a Unix socket, POLLERR alone (ECONNRESET: its peer closed with bytes
    unread, and freed them, so the count drops to 0; the kernel marks that before it frees them, so the count is
    read first). A stop ends the wait with True: the bytes are in the pipe, a live reader still gets them (as when a
    write returned)."""
    poller = select.poll()
    poller.register(fd, 0)  # POLLERR and POLLHUP are reported without being asked for
    wait = DRAIN_FIRST
    while True:
        unread = unread_bytes(fd, request)  # (`request`: _reader_count's)
        gone = 0
        for _, ev in poller.poll(0):  # at once after the count (a stale count and a reader that read it all, then
            gone |= ev                # closed, looked gone)
        if (unread and gone & (select.POLLERR | select.POLLHUP)) or (
                request == termios.TIOCOUTQ and gone & select.POLLERR):
            return False
        if not unread:  # (None: a kernel that cannot count: as before)
            return True
        if stop.is_set():
            return True
        poller.poll(wait * 1000)  # (woken early by a hang-up)
        wait = min(DRAIN_MAX, wait * 2)


def _when_room(fd: int, write: Callable[[int, Any], int], data: Any) -> int:
    """`write(fd, data)`, waiting for room as a blocking write does where descriptor 1 was left non-blocking
    (O_NONBLOCK on the open file description it shares with an earlier program: Node.js sets it on its stdio): a full
    pipe's EAGAIN is a reader busy, not a failure. Taken for one, a busy reader's pipe was given up after 6 attempts
    and what it had taken written again by the next run (exam26d)."""
    while True:
        try:
            return write(fd, data)
        except BlockingIOError:
            poller = select.poll()
            poller.register(fd, select.POLLOUT)
            poller.poll()  # (a reader gone: POLLERR, and the write says EPIPE)


def _write_all(fd: int, parts: list[bytes], written: _Written) -> None:
    """os.writev from byte `written.done` of the parts until every byte is written (a signal, a
    pipe or a filling disk may cut a write short); `written.done` follows each write, so after an
    OSError it says exactly where a retry starts."""
    i, skip = 0, written.done
    while i < len(parts) and skip >= len(parts[i]):
        skip -= len(parts[i])
        i += 1
    while i < len(parts):
        chunk: Sequence[bytes | memoryview] = parts[i : i + IOV_MAX]
        if skip:  # after a short write only
            chunk = [memoryview(parts[i])[skip:], *chunk[1:]]
        n = _when_room(fd, os.writev, chunk)
        written.done += n
        skip += n
        while i < len(parts) and skip >= len(parts[i]):
            skip -= len(parts[i])
            i += 1
