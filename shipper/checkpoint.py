"""Crash-safe checkpoint store: one SQLite database under state_dir.

SQLite in WAL mode gives atomic, durable updates of many keys at once without hand-written
fsync/rename dances; a kill -9 never leaves a half-written checkpoint.

The state_dir belongs to one agent at a time: an flock on `shipper.lock` (holding the owner's pid)
is taken before the database is opened and held until the agent ends; the kernel drops it when
the process dies, so a kill -9 leaves no stale lock. The database itself stays locked while the
agent runs (see _connect): `shipper status` reads it once the agent has stopped.
"""
from __future__ import annotations

import fcntl
import logging
import os
import sqlite3
import threading
import time
from typing import Any

import orjson

log = logging.getLogger("shipper.checkpoint")

SCHEMA = """
CREATE TABLE IF NOT EXISTS checkpoints (
    source TEXT NOT NULL,
    key TEXT NOT NULL,
    value BLOB NOT NULL,
    updated REAL NOT NULL,
    PRIMARY KEY (source, key)
);
"""

LOCK_FILE = "shipper.lock"
RECOVERY = "see 'Checkpoint database' in docs/operations.md"


class StateDirError(Exception):
    """The state_dir cannot be used. `str()` is one line: the path, what is wrong, what to do."""


class StateDirGone(OSError):
    """The state_dir (its database or lock file) was removed under the running agent and could not be
    made again (another agent took it meanwhile, or it cannot be created). `str()` says what to do."""


class CheckpointTooNew(Exception):
    """A source's checkpoint written by a later shipper in a layout this one cannot read (a downgrade).
    Raised by the source when it starts; `str()` names the checkpoint (and its file, if any). Going on
    would read its files from a guessed position; the agent refuses to start instead (exit 2)."""


def lock_state_dir(state_dir: str) -> int:
    """The open, flocked lock file (its descriptor), or StateDirError naming the holder's pid."""
    path = os.path.join(state_dir, LOCK_FILE)
    try:
        os.makedirs(state_dir, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as e:
        raise StateDirError(f"{state_dir}: cannot write to the state_dir ({e.strerror}); shipper keeps its "
                            "checkpoints there: make it writable by the user shipper runs as "
                            f"(systemd: StateDirectory= or ReadWritePaths=); {RECOVERY}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
        os.close(fd)
        raise StateDirError(f"{state_dir}: in use by another shipper (pid {holder}); two agents on one state_dir "
                            "would ship every event twice: stop that one, or give this one its own state_dir") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def _full(path: str) -> bool:
    try:
        st = os.statvfs(path)
    except OSError:
        return False
    return st.f_bavail * st.f_frsize < 64 * 1024


def _damaged(e: sqlite3.DatabaseError) -> bool:
    text = str(e).lower()
    return "not a database" in text or "malformed" in text or "corrupt" in text


def _connect(path: str) -> sqlite3.Connection:
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    try:
        # Exclusive before WAL: the WAL index then lives in this process's heap, not in a
        # `-shm` file mapped into memory (sqlite.org/wal.html, "Use of WAL Without Shared-Memory").
        # A mapped file that turns immutable (`chattr +i`) or is truncated under the agent answers
        # a write with SIGBUS, which kills the process before Python sees anything; a write(2)
        # refused instead is an error the commit retries. The cost: no other process can read the
        # database while the agent runs (`shipper status` then asks the agent, see status.py); the
        # state_dir is one agent's anyway (the flock above).
        db.execute("PRAGMA locking_mode=EXCLUSIVE")
        db.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL: a process crash never loses a commit; a power cut may roll back the last
        # ones, which only replays events (at-least-once), never skips them.
        db.execute("PRAGMA synchronous=NORMAL")
        # After a checkpoint the WAL file is cut back to this size instead of staying at its peak.
        db.execute("PRAGMA journal_size_limit=1048576")
        db.execute(SCHEMA)
    except BaseException:
        db.close()
        raise
    return db


def _ident(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_dev, st.st_ino


class CheckpointStore:
    def __init__(self, state_dir: str):
        self.state_dir = state_dir
        self.path = os.path.join(state_dir, "checkpoints.sqlite")
        self._lock_fd = lock_state_dir(state_dir)
        self._lock = threading.Lock()
        self.recreated = 0  # times the state_dir was removed under the agent and made again
        try:
            self._db = _connect(self.path)
            self._ident = _ident(self.path)
            check = self._db.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                raise sqlite3.DatabaseError(f"database disk image is malformed: {check}")
        except sqlite3.DatabaseError as e:
            os.close(self._lock_fd)
            if _damaged(e):
                raise StateDirError(f"{self.path}: the checkpoint database is damaged ({e}); stop shipper, move "
                                    f"it aside (mv {self.path} {self.path}.damaged) and start again: sources then "
                                    f"start over from their start_position; {RECOVERY}") from None
            raise StateDirError(f"{self.path}: cannot open the checkpoint database ({e}); "
                                + ("the filesystem holding it is full: free some space; " if _full(state_dir) else
                                   "check that the file and the state_dir are writable by the user shipper runs as; ")
                                + RECOVERY) from None

    def _removed(self) -> bool:
        """The database or the lock file is no longer where the agent opened it (`rm -rf` of the
        state_dir, a tmpfiles cleaner): commits would go into an unlinked file, and a second agent
        would find no lock and ship everything again."""
        if self._lock_fd < 0:
            return False
        return os.fstat(self._lock_fd).st_nlink == 0 or _ident(self.path) != self._ident

    def _remake(self) -> None:
        """Make the state_dir again with what the agent knows: the lock taken again first (so a second
        agent is refused, as before), then the deleted database, still open, copied into a new one by
        SQLite's backup API. StateDirGone when that cannot be done: the commits then fail and retry
        (reading paused, /health 503) instead of writing checkpoints nowhere."""
        lock_path = os.path.join(self.state_dir, LOCK_FILE)
        held = os.fstat(self._lock_fd)
        if held.st_nlink and _ident(lock_path) == (held.st_dev, held.st_ino):
            fd = os.dup(self._lock_fd)  # only the database went: the lock we hold is still the one on disk
        else:
            fd = -1
        try:
            if fd < 0:
                fd = lock_state_dir(self.state_dir)
        except StateDirError as e:
            raise StateDirGone(f"the state_dir was removed under the running agent and cannot be made again: {e}") \
                from None
        new = None
        try:
            new = _connect(self.path)
            self._db.backup(new)
            ident = _ident(self.path)
        except (sqlite3.Error, OSError) as e:
            if new is not None:
                new.close()
            os.close(fd)
            raise StateDirGone(f"{self.path}: the state_dir was removed under the running agent and the checkpoint "
                               f"database cannot be made again ({e}); {RECOVERY}") from None
        self._db.close()
        os.close(self._lock_fd)
        self._db, self._lock_fd, self._ident = new, fd, ident
        self.recreated += 1
        log.error("the state_dir was removed under the running agent (rm -rf, a tmpfiles cleaner?): made again, "
                  "with its lock and the checkpoints this agent held; anything else kept there is gone",
                  extra={"path": self.path})

    def ensure_present(self) -> bool:
        """Check that the state_dir is still there; remake it if it was removed (True then: the caller
        names it loudly). Raises StateDirGone when it cannot be remade."""
        with self._lock:
            if not self._removed():
                return False
            self._remake()
            return True

    def names(self) -> set[str]:
        """The sources that have a checkpoint here (configured now or not)."""
        with self._lock:
            return {row[0] for row in self._db.execute("SELECT DISTINCT source FROM checkpoints")}

    def load(self, source: str) -> dict[str, Any]:
        with self._lock:
            rows = self._db.execute("SELECT key, value FROM checkpoints WHERE source=?", (source,)).fetchall()
        return {k: orjson.loads(v) for k, v in rows}

    def update(self, source: str, fragment: dict[str, Any]) -> None:
        """Merge a fragment into a source's state in one transaction; None deletes a key.
        Raises sqlite3.Error (a full disk, an I/O error) with nothing changed: the caller retries."""
        if not fragment:
            return
        now = time.time()
        with self._lock:
            if self._removed():
                self._remake()
            cur = self._db.cursor()
            cur.execute("BEGIN")
            try:
                for key, value in fragment.items():
                    if value is None:
                        cur.execute("DELETE FROM checkpoints WHERE source=? AND key=?", (source, key))
                    else:
                        cur.execute(
                            "INSERT INTO checkpoints(source, key, value, updated) VALUES (?,?,?,?) "
                            "ON CONFLICT(source, key) DO UPDATE SET value=excluded.value, updated=excluded.updated",
                            (source, key, orjson.dumps(value), now),
                        )
                cur.execute("COMMIT")
            except BaseException:
                # SQLite may already have rolled back itself (SQLITE_FULL in COMMIT): a second
                # ROLLBACK would raise "no transaction is active" and hide the real error.
                if self._db.in_transaction:
                    try:
                        cur.execute("ROLLBACK")
                    except sqlite3.Error:
                        pass
                raise

    def compact(self) -> None:
        """Keep the state's size flat over months: the WAL emptied and truncated, and the pages freed
        by deleted keys (rotated files' positions) given back when they are a quarter of the file.
        Raises sqlite3.Error (a full disk): nothing is lost, the caller tries again later."""
        with self._lock:
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            free = self._db.execute("PRAGMA freelist_count").fetchone()[0]
            pages = self._db.execute("PRAGMA page_count").fetchone()[0]
            if free >= 16 and free * 4 >= pages:
                self._db.execute("VACUUM")
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

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
        with self._lock:
            self._db.close()
            if self._lock_fd >= 0:
                os.close(self._lock_fd)
                self._lock_fd = -1
