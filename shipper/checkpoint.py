"""The agent's checkpoint store: one SQLite database under state_dir, written by a process of its own.

shipper.checkpoint_db is that process (and says why it is one); this module starts it and asks it,
one request at a time. A request that does not return (a frozen filesystem, a hung disk) keeps its
caller waiting, but never the agent's stop: `give_up()` lets every waiter go, and the process is left
to end by itself after the thaw. `stuck_for()` tells /health how long the current request has waited.
"""
from __future__ import annotations

import logging
import os
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


class CheckpointTooNew(Exception):
    """A source's checkpoint written by a later shipper in a layout this one cannot read (a downgrade).
    Raised by the source when it starts; `str()` names the checkpoint (and its file, if any). Going on
    would read its files from a guessed position; the agent refuses to start instead (exit 2)."""


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
        self._conn, self._owed = ours, 0
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

    def _wait(self, timeout: float | None) -> Any:
        """The writer's next reply, ("ok", value) or ("error", exception); _NO_REPLY after `timeout`.
        GivenUp when give_up() was called meanwhile, OSError when the writer ended."""
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
            code = self._proc.wait()
            self._drop()
            raise OSError(f"{self.path}: the process writing the checkpoint database ended (exit {code})")

    def _call(self, op: str, *args: Any, timeout: float | None = None, blocking: bool = True) -> Any:
        """The writer's answer to one request; _NO_REPLY when busy (blocking=False) or after `timeout`
        (the reply is read and dropped by the next request). Raises what the writer raised."""
        if self._given_up.is_set():
            raise GivenUp(f"{self.path}: no longer waiting for the checkpoint database (stopping)")
        if not self._lock.acquire(blocking):
            return _NO_REPLY
        try:
            if self._conn is None:  # the writer ended (killed?): a new one takes the lock again
                try:
                    self._start()
                except StateDirError as e:
                    raise StateDirGone(str(e)) from None
                log.warning("the process writing the checkpoint database ended; started again",
                            extra={"path": self.path})
            deadline = None if timeout is None else time.monotonic() + timeout
            while self._owed:
                if self._wait(None if deadline is None else deadline - time.monotonic()) is _NO_REPLY:
                    return _NO_REPLY
                self._owed -= 1
            assert self._conn is not None
            self._busy_since = time.monotonic()
            self._conn.send((op, args))
            reply = self._wait(None if deadline is None else deadline - time.monotonic())
            if reply is _NO_REPLY:
                self._owed += 1
                return _NO_REPLY
            self._busy_since = None
            kind, value = reply
            if kind == "error":
                raise value
            return value
        finally:
            self._lock.release()

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
