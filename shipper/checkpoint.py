"""Crash-safe checkpoint store: one SQLite database under state_dir.

SQLite in WAL mode gives atomic, durable updates of many keys at once without hand-written
fsync/rename dances; a kill -9 never leaves a half-written checkpoint.

The state_dir belongs to one agent at a time: an flock on `shipper.lock` (holding the owner's pid)
is taken before the database is opened and held until the agent ends; the kernel drops it when
the process dies, so a kill -9 leaves no stale lock. `shipper status` reads the database without it.
"""
from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time
from typing import Any

import orjson

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


class CheckpointStore:
    def __init__(self, state_dir: str):
        self.path = os.path.join(state_dir, "checkpoints.sqlite")
        self._lock_fd = lock_state_dir(state_dir)
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL: a process crash never loses a commit; a power cut may roll back the last
            # ones, which only replays events (at-least-once), never skips them.
            self._db.execute("PRAGMA synchronous=NORMAL")
            # After a checkpoint the WAL file is cut back to this size instead of staying at its peak.
            self._db.execute("PRAGMA journal_size_limit=1048576")
            self._db.execute(SCHEMA)
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
