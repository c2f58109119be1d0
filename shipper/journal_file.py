"""The journal on a standard error that is a regular file (`2>>/var/log/shipper.err`, systemd's `StandardError=append:`).

A write to a file sleeps in the kernel, where no signal or timeout reaches it, while its filesystem is frozen (fsfreeze,
an LVM or VM snapshot's backup) or its disk or NFS server hangs. Written by the threads that logged, the journal held
every one of them: shipping stopped and no SIGTERM ended the agent until the thaw (exam29a). So the journal's file is
written by a process of its own (shipper.journal_writer; the checkpoint database has its own for the same reason), fed
through a socket that is never waited on: a line the socket cannot take now waits in the bounded backlog every journal
stream has (shipper.journal_backlog: past 1,000 lines, lines are dropped from its middle and counted there).

The writer is started at the journal's first line (not for a stderr that is not a file: `run --once` into a terminal
starts no process), and says after each write how many bytes its file took, so the agent knows which lines are only
given and which are written:
- its file cannot be written (a full disk: ENOSPC, EIO): the writer ends saying so, and the journal moves to syslog as a
  stderr whose reader went away does (shipper.log.JournalHandler), with the lines the file did not take sent there
  first;
- it ends otherwise (kill -9, the OOM killer): a new one is started and given again the lines the old one had not
  said were written (a line it wrote just before it ended comes twice: said so in the file); writers that keep dying
  soon after their start are started again after a growing wait, and after MAX_SHORT_LIVES the journal moves to
  syslog;
- at the exit the agent waits until the writer says every line is written (the backlog has a few seconds for it:
  journal_backlog.EXIT_WAIT; systemd's KillMode=mixed kills what is left of the unit once the agent has ended); what
  the file has not taken then is counted in the kernel's log with its last warnings, as a stalled pipe's backlog is,
  and the agent exits: a writer stuck in the kernel writes the lines it was given once the file takes them (the
  thaw), unless it is killed first, and ends.
The writer writes on the agent's own open file (descriptor 2, inherited), as the agent did: a file rotated by logrotate
`copytruncate` is written on at its new end (with `>>`, O_APPEND). One rotated by `create` or deleted was written on
where it went (a deleted one: nowhere to be read, its space held) until a restart: the file's name (descriptor 2's, at
the start) is given to the writer, which at a reload (log.setup runs again: look_at_its_name), and at its own start,
opens the file at that name when it is another one, or makes it when there is none (`postrotate systemctl reload
shipper`, as for the logs Log4j or nginx write); said in the journal.
"""
from __future__ import annotations

import collections
import errno
import io
import logging
import os
import select
import signal
import socket
import stat
import subprocess
import time
from typing import IO, TypeVar

from shipper import journal_writer
from shipper.helper_command import helper_command
from shipper.journal_stderr import StderrJournal, priority_of

# A writer that ended is replaced at once; when writers keep dying within SHORT_LIFE of their start, the next is
# started after RESTART_BACKOFF_FIRST seconds, doubling; after MAX_SHORT_LIVES in a row the journal goes to syslog.
SHORT_LIFE = 60.0
RESTART_BACKOFF_FIRST = 1.0
MAX_SHORT_LIVES = 5
REAP_WAIT = 1.0  # seconds a writer whose socket closed is waited for (it is ending: its exit status is named)
# Seconds an exit that does not wait (a second signal: exit_now) still gives the writer to say its lines are written:
# a file takes them in a moment, and what is only given is counted in the kernel's log as unwritten.
EXIT_NOW_WAIT = 0.5


class WriterGone(OSError):
    """The journal's file cannot be written any more (its writer said why, or writers keep dying)."""


class FileJournal(StderrJournal):
    """A regular file's stderr for the journal, written by a writer process: never blocks the thread that logs."""

    sender_name = "journal-file"
    stalled = "standard error's file did not take the journal"

    def __init__(self) -> None:
        super().__init__()
        self._proc: subprocess.Popen[bytes] | None = None
        # The agent's end of the socket the lines go to the writer on, and the writer says what its file took on
        # (non-blocking; one descriptor: under a low descriptor limit every one counts).
        self._sock: socket.socket | None = None
        self._said = b""  # a word of it not read whole yet
        self._given: collections.deque[bytes] = collections.deque()  # given to the writer, not yet said written
        self._head_written = 0  # bytes of the first of them its file took (a line cut by a full disk)
        self.broken: OSError | None = None  # why the file cannot be written: the next line logged moves the journal
        self._started_at = 0.0
        self._short_lives = 0  # writers in a row that died within SHORT_LIFE of their start
        self._restart_due = 0.0  # time.monotonic() from which the next writer may be started
        self._spoke = False  # the writer said a word (so it is past its start, its SIGHUP handler set)
        self._file_given = False  # descriptor 2's file went to the first writer (descriptor 2 is its socket since)
        self._opens_it = False  # the writer just started opens the file by its name (not the first: it has no other)
        self.path = _name_of_descriptor_2()  # the file's name at the start: looked at again at each reload

    def write(self, s: str) -> int:
        """A line from the thread that logs; OSError once the file cannot be written (the journal handler moves the
        journal, and takes the lines not written: take_unwritten)."""
        with self._lock:
            self._read_said()
            broken = self.broken
        if broken is not None:
            raise OSError(broken.errno, broken.strerror)
        return super().write(s)

    def take_unwritten(self) -> list[str]:
        """The lines the file did not take, each with its `<N>` priority, taken away (the journal goes elsewhere)."""
        with self._lock:
            self._read_said()
            lines = self._unwritten()
            if self._dropped:
                lines.insert(len(self._given) + self._head, self._dropped_note(self._dropped, self._dropped_weighty))
            self._given.clear()
            self._head_written = 0
            self._backlog.clear()
            self._dropped = self._dropped_weighty = self._head = 0
            self._close_socket()
        return [f"<{priority_of(line)}>" + line.decode(errors="replace") for line in lines]

    def look_at_its_name(self) -> None:
        """At a reload: the writer (when it runs) looks whether the file's name is still its file's, and opens the
        file there if it is another (logrotate `create`) or makes it if there is none (deleted)."""
        with self._lock:
            if self._proc is not None and self._spoke and self.path is not None:
                try:
                    self._proc.send_signal(signal.SIGHUP)  # (not to its pid once it is reaped: another's by then)
                except OSError:  # (it ended: its successor looks at its start)
                    pass

    # The writer.
    def _start_writer(self) -> bool:
        """A writer started (True); False while a new one must wait (it keeps dying) or cannot be started."""
        if self.broken is not None or time.monotonic() < self._restart_due:
            return False
        first = not self._file_given
        if not first and self.path is None:  # (the file is the first writer's alone: a later one opens it by name)
            self.broken = WriterGone(errno.EIO, "its writer process ended, and its file has no name to be opened "
                                                "again by another")
            return False
        try:
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        except OSError as e:  # (out of descriptors: tried again at the next line, after a wait)
            self._died(f"it could not be started: {e.strerror}")
            return False
        try:
            # The first one's standard error is the agent's, the journal's file (a later one opens it by its name:
            # --reopen); it reads the lines on its standard input and says what its file took on its standard output.
            proc = subprocess.Popen(helper_command(journal_writer, *(["--reopen", self.path] if self.path is not None else [])),
                                    stdin=theirs.fileno(), stdout=theirs.fileno(),
                                    stderr=None if first else subprocess.DEVNULL)
        except OSError as e:
            ours.close()
            self._died(f"it could not be started: {e.strerror}")
            return False
        finally:
            theirs.close()
        # The socket takes descriptor 2's place: the file is the writer's alone, and the agent keeps no descriptor more
        # than before (under a low limit, one more made a file source meet EMFILE more: test_attack24_many_families…);
        # a crash's traceback (faulthandler) goes through the writer too. Never closed: /dev/null takes its place.
        os.dup2(ours.fileno(), 2)
        ours.close()
        self._file_given, self._opens_it = True, not first
        self._proc, self._sock, self._spoke = proc, socket.socket(fileno=2), False
        self._started_at = time.monotonic()
        return True

    def _died(self, how: str) -> None:
        """A writer ended or did not start: when the next may start; after MAX_SHORT_LIVES in a row, no more."""
        if time.monotonic() - self._started_at >= SHORT_LIFE:
            self._short_lives = 0
        self._short_lives += 1
        if self._short_lives >= MAX_SHORT_LIVES:
            self.broken = WriterGone(errno.EIO, f"its writer process ended {self._short_lives} times in a row, the last: {how}")
        elif self._short_lives > 1:
            self._restart_due = time.monotonic() + RESTART_BACKOFF_FIRST * 2 ** (self._short_lives - 2)

    def _close_socket(self) -> None:
        """The agent's end of the writer's socket let go: /dev/null on descriptor 2 in its place (never left free: the
        next file opened would take it)."""
        if self._sock is not None:
            self._sock.detach()
            null = os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC)
            os.dup2(null, 2)
            os.close(null)
        self._sock = None
        self._said = b""

    def _writer_ended(self) -> None:
        """The writer's end of the socket closed: it ended. Unless it said why (its file broke), the lines it had not said were
        written go again, first, to the next one, after a line saying so."""
        proc, self._proc = self._proc, None
        self._close_socket()
        if proc is None:
            return
        try:
            code = proc.wait(REAP_WAIT)
        except subprocess.TimeoutExpired:
            code = None
        if self.broken is not None:
            return
        how = "its exit is not known yet" if code is None else _exit_named(code)
        self._died(how)
        again = list(self._given)
        if again:
            again[0] = again[0][self._head_written:]  # (the rest of a line cut: written after its head)
        self._given.clear()
        self._head_written = 0
        note = (f"the journal's writer process (pid {proc.pid}) ended ({how}): "
                + (f"the {len(again)} lines it had not said were written are given again to a new one below (any it "
                   "wrote just before it ended appear twice)" if again else "a new one writes on"))
        self._put_in_front([(self.line_of(note) + "\n").encode(errors="replace"), *again])

    def _read_said(self) -> None:
        """What the writer said since the last look: the bytes its file took (those lines are written), or why it
        cannot write them (`E errno`: self.broken). Its end of the socket closed: it ended (_writer_ended)."""
        while self._sock is not None:
            try:
                chunk = self._sock.recv(4096, socket.MSG_DONTWAIT)
            except BlockingIOError:
                return
            except OSError:
                chunk = b""
            if not chunk:
                self._writer_ended()
                return
            *words, self._said = (self._said + chunk).split(b"\n")
            self._spoke = True
            for word in words:
                if word.startswith(b"E "):
                    code = int(word[2:])
                    self.broken = WriterGone(code, os.strerror(code))
                elif word == b"R" and self._opens_it:
                    self._opens_it = False  # (a later writer's opening of the file: nothing moved)
                elif word.startswith(b"W ") and self._opens_it:
                    code = int(word[2:])
                    self.broken = WriterGone(code, f"its writer process ended, and its file {self.path} cannot be "
                                                   f"opened again by another ({os.strerror(code)})")
                elif word == b"R":
                    self._note(f"the journal's file {self.path} was rotated away or removed: the journal is written "
                               "to the file at that name from here", logging.INFO)
                elif word.startswith(b"W "):
                    self._note(f"the journal's file {self.path} was rotated away or removed, and cannot be opened "
                               f"again ({os.strerror(int(word[2:]))}): the journal is written on where it was",
                               logging.WARNING)
                else:
                    self._written(int(word))

    def _note(self, text: str, level: int) -> None:
        """A line of the journal's own, after those held (the lock held: not through the logger)."""
        self._hold((self.line_of(text, level) + "\n").encode(errors="replace"))

    def _written(self, took: int) -> None:
        while took and self._given:
            left = len(self._given[0]) - self._head_written
            if left > took:
                self._head_written += took
                return
            took -= left
            self._given.popleft()
            self._head_written = 0

    # What every journal stream says (shipper.journal_backlog).
    def _unsent(self, data: bytes) -> bytes:
        self._read_said()
        if self._sock is None and not self._start_writer():
            return data
        assert self._sock is not None
        try:
            took = self._sock.send(data, socket.MSG_DONTWAIT | socket.MSG_NOSIGNAL)
        except BlockingIOError:
            return data
        except OSError:  # (EPIPE, ECONNRESET: the writer ended; what it said is read first)
            self._read_said()
            if self._proc is not None:
                self._writer_ended()
            return data
        self._given.append(data[:took])
        return data[took:]

    def _send_held(self) -> bool:
        """True once every line is written (said so by the writer), or the file cannot be written: nothing more to
        send (the next line logged moves the journal)."""
        sent = self.broken is None and super()._send_held()
        self._read_said()
        return self.broken is not None or (sent and not self._given)

    def _wait_for_room(self, timeout: float) -> None:
        """Until the writer says more, or its socket takes more; a writer yet to be started: `timeout`."""
        sock = self._sock
        if sock is None:
            time.sleep(timeout)
            return
        try:
            select.select([sock], [sock] if self._backlog or self._dropped else [], [], timeout)
        except (OSError, ValueError):  # (closed meanwhile by a thread that logged: the writer ended)
            time.sleep(min(timeout, 0.05))

    def exit_now(self) -> None:
        """A second signal's exit: what the writer says it wrote within EXIT_NOW_WAIT is not counted unwritten."""
        deadline = time.monotonic() + EXIT_NOW_WAIT
        while time.monotonic() < deadline:
            if not self._lock.acquire(timeout=0.1):
                continue
            try:
                if self._send_held():
                    break
            finally:
                self._lock.release()
            self._wait_for_room(max(0.0, min(0.1, deadline - time.monotonic())))
        super().exit_now()

    def _unwritten(self) -> list[bytes]:
        return [bytes(line) for line in (*self._given, *self._backlog)]

    def _left_note(self) -> str:
        if not self._given or self._proc is None or self._proc.poll() is not None:
            return ""
        return (f"; the first {len(self._given)} of them are with its writer process (pid {self._proc.pid}), which "
                "writes them once the file takes them (a frozen filesystem thawed, a hung disk back) unless it is "
                "killed first (systemd's KillMode=mixed)")

    def _left_at_exit(self) -> None:
        self._read_said()
        super()._left_at_exit()


def _name_of_descriptor_2() -> str | None:
    """The path of the file on descriptor 2, None when it has none (deleted, or not in this mount namespace)."""
    try:
        path = os.readlink("/proc/self/fd/2")
    except OSError:
        return None
    return path if path.startswith("/") and not path.endswith(" (deleted)") else None


def _exit_named(code: int) -> str:
    if code >= 0:
        return f"exit status {code}"
    try:
        return f"killed by {signal.Signals(-code).name}"
    except ValueError:
        return f"killed by signal {-code}"


Stream = TypeVar("Stream", bound="IO[str] | io.TextIOBase")
_made: list[FileJournal] = []  # the one made (log.setup runs again at each reload)


def file_journal(stderr: Stream) -> Stream | FileJournal:
    """The journal's stream for `stderr`: a FileJournal when it is descriptor 2 and that is a regular file (or the
    FileJournal itself), else stderr."""
    if isinstance(stderr, FileJournal):
        return stderr
    try:
        if stderr.fileno() != 2 or not stat.S_ISREG(os.fstat(2).st_mode):
            return stderr
    except (OSError, ValueError):  # (io.UnsupportedOperation is a ValueError and an OSError)
        return stderr
    if not _made:
        _made.append(FileJournal())
    return _made[0]
