"""The journal's lines held while their reader does not take them: one policy for every journal stream.

A reader that stops reading (a syslog daemon held by a remote action, a pager at its prompt, journald stuck) must not
stop the agent: a blocking write held the thread that logged — a file source in its warning, the stop in its
`stopping` line (exam26d on syslog, exam28 on a stderr pipe). So a line the reader cannot take now waits in a bounded
backlog that a thread sends as the reader reads again. Past the bound, lines are dropped from the backlog's middle:
the oldest half is kept (how the trouble began), then one line that says how many were dropped there and how many of
them were warnings or errors, then the newest lines (how things stand: a `data lost` warned after a flood of others —
1,300 FIFOs each named once — was dropped when the newest were, and the loss was named nowhere: exam29a). A line
naming a loss is never the one dropped while another can be. At exit
the backlog has a few seconds to go. Each stream says how a line is sent (`_unsent`), how the count of drops reads, and how to wait for
room: shipper.journal_syslog (syslog's socket), shipper.journal_pipe (a stderr pipe or socket).
"""
from __future__ import annotations

import atexit
import collections
import io
import threading
import time

# What every line naming a loss says (shipper.tail.losses, the sources' own): kept over other lines when some are dropped.
LOSS = b"data lost"
BACKLOG_LINES = 1000  # journal lines held while the reader does not read (at most ~16 MiB); then dropped and counted
EXIT_WAIT = 3.0  # seconds the backlog has at exit for a reader that reads again


_made: list[HeldJournal] = []  # every journal stream made (exit_now)


def exit_now() -> None:
    """Before an exit that skips atexit (os._exit: a second signal): each journal stream sends what its reader takes
    now and says what is left where it can (HeldJournal.exit_now)."""
    for stream in list(_made):
        stream.exit_now()


class HeldJournal(io.TextIOBase):
    """A journal stream that never blocks the thread that logs (the module's docstring)."""

    sender_name = "journal"

    def __init__(self) -> None:
        super().__init__()
        self._pending = ""
        self._lock = threading.Lock()  # lines come from every thread; the backlog's sender is one more
        self._backlog: collections.deque[bytes] = collections.deque()
        self._dropped = 0  # lines dropped from the backlog's middle, not yet said
        self._dropped_weighty = 0  # warnings and errors among them
        self._head = 0  # while some are dropped: the backlog's lines before them (the oldest), to be sent first
        self._sender: threading.Thread | None = None
        atexit.register(self._drain_at_exit)
        _made.append(self)

    def writable(self) -> bool:
        return True

    def flush(self) -> None:
        pass  # whole lines are sent as they come; a line is sent once its newline is written

    # What each stream says.
    def _unsent(self, data: bytes) -> bytes:
        """What the reader did not take of `data` now; b"" when all of it."""
        raise NotImplementedError

    def _dropped_note(self, dropped: int, weighty: int) -> bytes:
        """The line that says `dropped` lines were dropped (`weighty` of them warnings or errors), as the stream sends
        a line."""
        raise NotImplementedError

    def _weighty(self, data: bytes) -> bool:
        """Whether the line `data` (as the stream sends it) is a warning or an error."""
        raise NotImplementedError

    def _wait_for_room(self, timeout: float) -> None:
        """Until the reader may take more, or `timeout`."""
        raise NotImplementedError

    def _left_at_exit(self) -> None:
        """What is still held when the exit's wait ran out (called with the lock held): nothing by default."""

    def _sender_done(self) -> bool:
        """With the backlog sent: whether the sender thread may end (syslog's watches the lines until read)."""
        return True

    def _idle_wait(self) -> float:
        """Seconds the sender sleeps when all is sent but it may not end yet."""
        return 1.0

    # The policy.
    def _send_now(self, data: bytes) -> None:
        """A line from the thread that logs: sent now if nothing is held before it, else held."""
        with self._lock:
            if self._backlog or self._dropped:
                self._hold(data)
            elif rest := self._unsent(data):
                self._hold(rest)  # a line's rest: the backlog is empty, so it is never dropped

    def _hold(self, data: bytes) -> None:
        """`data` at the backlog's end; when it is full, the oldest line after its kept head is dropped for it
        (counted, said where it was: _send_held)."""
        if len(self._backlog) >= BACKLOG_LINES:
            if not self._dropped:
                self._head = len(self._backlog) // 2
            self._head = max(self._head, 1)  # (the first line may be a rest already begun: never dropped)
            # The oldest line after the kept head that names no loss: a `data lost` between 700 older and 900 newer
            # warnings sat in the middle and was dropped (exam29a). Only when every line there names one is one dropped.
            at = next((i for i in range(self._head, len(self._backlog)) if LOSS not in self._backlog[i]), self._head)
            if at < len(self._backlog):
                dropped = self._backlog[at]
                del self._backlog[at]
            else:
                dropped, data = data, b""
            self._dropped += 1
            self._dropped_weighty += self._weighty(dropped)
            if not data:
                return
        self._backlog.append(data)
        self._start_sender()

    def _put_in_front(self, lines: list[bytes]) -> None:
        """`lines` to be sent before the backlog (syslog's, unread by a daemon that restarted)."""
        self._backlog.extendleft(reversed(lines))
        if self._dropped:
            self._head += len(lines)

    def _start_sender(self) -> None:
        if self._sender is None:
            self._sender = threading.Thread(target=self._send_backlog, name=self.sender_name, daemon=True)
            self._sender.start()

    def _send_held(self) -> bool:
        """Sends what the reader takes of the backlog, the count of lines dropped where they were; True when all is
        sent."""
        while True:
            if self._dropped and not self._head:
                note = self._dropped_note(self._dropped, self._dropped_weighty)
                rest = self._unsent(note)
                if rest and len(rest) == len(note):
                    return False
                self._dropped = self._dropped_weighty = 0
                if rest:
                    self._backlog.appendleft(rest)  # the note's rest goes first, then the newest lines
                    return False
            if not self._backlog:
                return True
            head = self._backlog[0]
            rest = self._unsent(head)
            if self._backlog[0] is not head:
                continue  # lines put in front of it meanwhile (syslog's, to be sent again after a restart)
            if rest:
                self._backlog[0] = rest
                return False
            self._backlog.popleft()
            self._head = max(0, self._head - 1)

    def _send_backlog(self) -> None:
        """The sender thread: sends the backlog as the reader takes it."""
        while True:
            with self._lock:
                sent = self._send_held()
                if sent and self._sender_done():
                    self._sender = None
                    return
            if sent:
                time.sleep(self._idle_wait())
            else:
                self._wait_for_room(1.0)

    def exit_now(self) -> None:
        """An exit that does not wait: what the reader takes now is sent, what is left said (_left_at_exit); the lock
        tried for half a second (the thread the signal interrupted may hold it)."""
        if self._lock.acquire(timeout=0.5):
            try:
                self._send_held()
                self._left_at_exit()
            finally:
                self._lock.release()

    def _drain_at_exit(self) -> None:
        deadline = time.monotonic() + EXIT_WAIT
        while time.monotonic() < deadline:
            with self._lock:
                if self._send_held():
                    return
            self._wait_for_room(min(1.0, max(0.0, deadline - time.monotonic())))
        with self._lock:
            self._left_at_exit()
