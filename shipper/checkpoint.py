"""The agent's checkpoint store: one SQLite database under state_dir, written by a process of its own.

shipper.checkpoint_db is that process (and says why it is one); this module starts it and asks it,
one request at a time. A request that does not return (a frozen filesystem, a hung disk) keeps its
caller waiting, but never the agent's stop: `give_up()` lets every waiter go, and the process is left
to end by itself after the thaw. `stuck_for()` tells /health how long the current request has waited.
A writer that ended (killed: kill -9, the OOM killer) is replaced and the request it was in sent again
(every request is safe to repeat); one that keeps dying soon after its start is given up on, named.
"""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from multiprocessing import Pipe
from multiprocessing.connection import Connection
from typing import Any

import orjson

from shipper import checkpoint_db
from shipper.checkpoint_db import (  # noqa: F401  (the names the rest of shipper imports from here)
    LOCK_FILE,
    RECOVERY,
    SNAPSHOT,
    SNAPSHOT_EVERY,
    StateDirError,
    StateDirGone,
    lock_state_dir,
)

log = logging.getLogger("shipper.checkpoint")

WAIT_SLICE = 0.2  # seconds a waiting caller sleeps between looks at give_up()
START_WAIT = 30.0  # seconds the agent waits for its database to open (a frozen filesystem never answers)
CLOSE_WAIT = 10.0  # seconds a stop waits for the database to close (and its lock to go)
MAIN_THREAD_WAIT = 1.0  # seconds the agent's main loop waits on a check or compaction before going on
# A writer that ended is replaced at once; when the writers keep dying within SHORT_LIFE of their start,
# the second in a row is replaced after RESTART_BACKOFF_FIRST seconds, doubling, and after MAX_SHORT_LIVES
# in a row no more (a permanent failure: named, nothing saved until the agent is restarted).
SHORT_LIFE = 60.0
RESTART_BACKOFF_FIRST = 1.0
MAX_SHORT_LIVES = 5


class CheckpointTooNew(Exception):
    """A source's checkpoint written by a later shipper in a layout this one cannot read (a downgrade).
    Raised by the source when it starts; `str()` names the checkpoint (and its file, if any). Going on
    would read its files from a guessed position; the agent refuses to start instead (exit 2)."""


class WriterEnded(OSError):
    """The writer process ended (its end of the socket closed and it was reaped): not merely slow."""


class GivenUp(OSError):
    """The agent stopped waiting for the checkpoint database (give_up): nothing more is saved this run."""


_NO_REPLY = object()


class CheckpointStore:
    def __init__(self, state_dir: str):
        self.state_dir = state_dir
        self.path = os.path.join(state_dir, checkpoint_db.DB_FILE)
        self._lock = threading.Lock()  # one request at a time
        self._given_up = threading.Event()
        self._busy_since: float | None = None  # time.monotonic() the request waited on was sent
        self._owed = 0  # replies to requests whose caller stopped waiting (the main loop's checks)
        self.recreated = 0  # times the state_dir was removed under the agent and made again
        self._conn: Connection | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._started_at = 0.0  # time.monotonic() the current writer was started
        self._short_lives = 0  # writers in a row that died within SHORT_LIFE of their start
        self._restart_due = 0.0  # time.monotonic() from which a writer that ended may be replaced
        self._failed: str | None = None  # why no writer is started any more (they keep dying)
        self._start()

    def _start(self) -> None:
        """The writer process, its lock taken and database open; StateDirError (one line) if not."""
        ours, theirs = Pipe()
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-I", "-S", checkpoint_db.__file__, str(theirs.fileno()), self.state_dir,
                 str(os.getpid())], pass_fds=[theirs.fileno()],
                # Not the agent's stdout and stderr: a writer left behind would hold a pipe's reader
                # (`run --once | …`) open until the thaw; it says what went wrong in its answers.
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        except OSError as e:
            ours.close()
            raise StateDirError(f"{self.path}: cannot start the process that writes the checkpoint database "
                                f"({e.strerror})") from None
        finally:
            theirs.close()
        self._conn, self._owed, self._started_at = ours, 0, time.monotonic()
        reply = self._wait(START_WAIT)
        if reply is _NO_REPLY:  # left behind: it ends when it can, after the thaw
            self._drop()
            raise StateDirError(f"{self.path}: the checkpoint database did not open within {START_WAIT:.0f}s: is the "
                                "state_dir's filesystem frozen (fsfreeze, a snapshot's backup) or its disk hung?")
        kind, value = reply
        if kind == "error":
            self._drop()
            self._proc.wait(CLOSE_WAIT)
            raise value

    def _drop(self) -> None:
        """Forget the writer process (it ended, or is left to end by itself)."""
        if self._conn is not None:
            self._conn.close()
        self._conn = None
        self._busy_since = None

    def _ended(self) -> WriterEnded:
        """The writer's end of the socket is closed: reap it, name it once, and decide when (if ever) a
        new one is started. Returns the error for the request it was in."""
        assert self._proc is not None
        while (code := self._proc.poll()) is None:  # at once but for the kernel's last steps of its exit
            if self._given_up.is_set():
                self._drop()
                raise GivenUp(f"{self.path}: no longer waiting for the checkpoint database (stopping)")
            time.sleep(0.01)
        self._drop()
        how = (f"killed by {signal.Signals(-code).name}" if code < 0 and -code in signal.valid_signals()
               else f"exit status {code}")
        now = time.monotonic()
        self._short_lives = self._short_lives + 1 if now - self._started_at < SHORT_LIFE else 0
        if self._short_lives >= MAX_SHORT_LIVES:
            self._failed = (f"{self.path}: the process writing the checkpoint database ended {self._short_lives} "
                            f"times in a row within {SHORT_LIFE:.0f}s of its start (last: {how}): no new one is "
                            "started; nothing is saved until the agent is restarted")
            log.error(self._failed, extra={"path": self.path})
            return WriterEnded(self._failed)
        delay = 0.0 if self._short_lives < 2 else RESTART_BACKOFF_FIRST * 2 ** (self._short_lives - 2)
        self._restart_due = now + delay
        log.warning(f"the process writing the checkpoint database ended ({how}): a new one is started"
                    + (f" in {delay:g}s" if delay else ""), extra={"path": self.path, "exit": code})
        return WriterEnded(f"{self.path}: the process writing the checkpoint database ended ({how})")

    def _replace(self) -> None:
        """A new writer for one that ended (it takes the lock the old one's death let go);
        WriterEnded while it may not be started yet, or no more."""
        if self._failed is not None:
            raise WriterEnded(self._failed)
        wait = self._restart_due - time.monotonic()
        if wait > 0:
            raise WriterEnded(f"{self.path}: the process writing the checkpoint database ended; a new one is "
                              f"started in {wait:.1f}s")
        try:
            self._start()
        except StateDirError as e:
            raise StateDirGone(str(e)) from None

    def _wait(self, timeout: float | None) -> Any:
        """The writer's next reply, ("ok", value) or ("error", exception); _NO_REPLY after `timeout`.
        GivenUp when give_up() was called meanwhile, WriterEnded when the writer ended."""
        assert self._conn is not None and self._proc is not None
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if self._given_up.is_set():
                raise GivenUp(f"{self.path}: no longer waiting for the checkpoint database (stopping)")
            step = WAIT_SLICE if deadline is None else min(WAIT_SLICE, deadline - time.monotonic())
            if step <= 0:
                return _NO_REPLY
            try:
                if self._conn.poll(step):
                    return self._conn.recv()
            except (EOFError, OSError):
                pass
            else:
                continue
            raise self._ended()

    def _call(self, op: str, *args: Any, timeout: float | None = None, blocking: bool = True) -> Any:
        """The writer's answer to one request; _NO_REPLY when busy (blocking=False) or after `timeout`
        (the reply is read and dropped by the next request). Raises what the writer raised."""
        if self._given_up.is_set():
            raise GivenUp(f"{self.path}: no longer waiting for the checkpoint database (stopping)")
        if not self._lock.acquire(blocking):
            return _NO_REPLY
        try:
            deadline = None if timeout is None else time.monotonic() + timeout
            for attempt in range(2):  # the request a writer died in is sent once more, to its successor
                try:
                    return self._request(op, args, deadline)
                except WriterEnded:
                    if attempt or self._failed is not None or self._restart_due > time.monotonic():
                        raise
            raise AssertionError("unreachable")
        finally:
            self._lock.release()

    def _request(self, op: str, args: tuple[Any, ...], deadline: float | None) -> Any:
        """_call's one try, the lock held."""
        if self._conn is None:  # the writer ended (killed?): a new one takes the lock again
            self._replace()
        while self._owed:
            if self._wait(None if deadline is None else deadline - time.monotonic()) is _NO_REPLY:
                return _NO_REPLY
            self._owed -= 1
        assert self._conn is not None
        self._busy_since = time.monotonic()
        try:
            self._conn.send((op, args))
        except OSError:  # BrokenPipeError: it ended (EOF follows, then it is reaped)
            raise self._ended() from None
        reply = self._wait(None if deadline is None else deadline - time.monotonic())
        if reply is _NO_REPLY:
            self._owed += 1
            return _NO_REPLY
        self._busy_since = None
        kind, value = reply
        if kind == "error":
            raise value
        return value

    def stuck_for(self, now: float | None = None) -> float | None:
        """Seconds the writer has been in the current request, None when it is in none."""
        since = self._busy_since
        return None if since is None else (time.monotonic() if now is None else now) - since

    def wait_idle(self, timeout: float) -> bool:
        """True once no request is in progress, False after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while self._busy_since is not None and time.monotonic() < deadline:
            time.sleep(0.05)
        return self._busy_since is None

    def give_up(self) -> None:
        """Stop waiting for the writer (the agent stops while a request has not returned): every
        waiting and later request raises GivenUp at once, and close() leaves the writer behind."""
        self._given_up.set()

    def given_up(self) -> bool:
        return self._given_up.is_set()

    def _remade(self) -> None:
        self.recreated += 1
        log.error("the state_dir was removed under the running agent (rm -rf, a tmpfiles cleaner?): made again, "
                  "with its lock and the checkpoints this agent held; anything else kept there is gone",
                  extra={"path": self.path})

    def ensure_present(self) -> bool:
        """Check that the state_dir is still there; remake it if it was removed (True then: the caller
        names it loudly). Raises StateDirGone when it cannot be remade. From the agent's main loop:
        False at once when a request is in progress, or after MAIN_THREAD_WAIT (checked again later)."""
        remade = self._call("ensure_present", blocking=False, timeout=MAIN_THREAD_WAIT)
        if remade is True:
            self._remade()
            return True
        return False

    def names(self) -> set[str]:
        """The sources that have a checkpoint here (configured now or not)."""
        return set(self._call("names"))

    def load(self, source: str) -> dict[str, Any]:
        return {k: orjson.loads(v) for k, v in self._call("load", source)}

    def update(self, source: str, fragment: dict[str, Any]) -> None:
        """Merge a fragment into a source's state in one transaction; None deletes a key.
        Raises sqlite3.Error (a full disk, an I/O error) or OSError with nothing changed: the caller
        retries; GivenUp once the agent stopped waiting (give_up)."""
        if not fragment:
            return
        rows = [(k, None if v is None else orjson.dumps(v)) for k, v in fragment.items()]
        if self._call("update", source, rows, time.time()):
            self._remade()

    def compact(self) -> bool:
        """Keep the state's size flat over months (checkpoint_db.CheckpointDb.compact). From the
        agent's main loop: False when a request is in progress (tried again later); an answer later
        than MAIN_THREAD_WAIT is not waited for. Raises sqlite3.Error (a full disk)."""
        return self._call("compact", blocking=False, timeout=MAIN_THREAD_WAIT) is not _NO_REPLY

    def size(self) -> int:
        """Bytes on disk: the database and its WAL."""
        total = 0
        for suffix in ("", "-wal"):
            try:
                total += os.stat(self.path + suffix).st_size
            except OSError:
                pass
        return total

    def close(self) -> None:
        """The database closed and its lock let go, within CLOSE_WAIT. After give_up(), or when a
        request does not return meanwhile, the writer is left to end by itself once it can (its end
        of the socket is closed: it ends after the write it is in)."""
        if not self._lock.acquire(timeout=CLOSE_WAIT):
            self._given_up.set()  # the request in progress lets go of the lock within WAIT_SLICE
            self._lock.acquire()
        try:
            if self._conn is None or self._proc is None:
                return
            if not self._given_up.is_set():
                try:
                    while self._owed:
                        if self._wait(CLOSE_WAIT) is _NO_REPLY:
                            raise GivenUp("not answering")
                        self._owed -= 1
                    self._conn.send(("close", ()))
                    if self._wait(CLOSE_WAIT) is not _NO_REPLY:
                        self._proc.wait(CLOSE_WAIT)
                except (OSError, subprocess.TimeoutExpired):
                    pass
            self._drop()
        finally:
            self._lock.release()
