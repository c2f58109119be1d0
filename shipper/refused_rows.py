"""The checkpoint rows a full state_dir refused, kept by the checkpoint writer in room it set aside at its start.

A stop on a full state_dir with no reserve (a small filesystem makes none) could save nothing: the losses it named
(files deleted while held unread) were not saved as gone, and the next start named them again from their last saved
positions (tests/tail/test_attack21_stop_full_state_dir_loss_named_twice.py). The writer allocates ROOM bytes at its
start (`refused_rows`, blocks allocated while the filesystem has room), and every commit the filesystem refuses
(ENOSPC, EDQUOT: SQLite's "database or disk is full") writes the rows refused and not saved since into it, in place:
no new block is needed. The next writer's start commits them before any source loads its state, or, still full,
serves them over the database's rows (CheckpointDb.load), and empties the file once they are saved.

Only the writer process writes here (the agent never writes in the state_dir itself: a frozen filesystem would hang
its exit). The file holds a length, a newline and JSON: {source: {key: value or null}}, each value the text saved, as a JSON string: byte for byte."""
from __future__ import annotations

import errno
import json
import os
import sqlite3

NAME = "checkpoints.refused"
ROOM = 256 * 1024  # rows refused at once: a stop's gone states of many rotated files (~1 KiB each) fit
HEADER = 16  # the JSON's length, in ASCII digits, padded with spaces, and a newline

Rows = dict[str, dict[str, "bytes | None"]]


def _for_space(e: BaseException) -> bool:
    """A commit refused for want of room (the filesystem or a quota full), not for another fault."""
    if isinstance(e, OSError):
        return e.errno in (errno.ENOSPC, errno.EDQUOT)
    return isinstance(e, sqlite3.Error) and "full" in str(e).lower()


class RefusedRows:
    def __init__(self, state_dir: str):
        self.path = os.path.join(state_dir, NAME)
        self.rows: Rows = {}  # refused, not saved since
        self._room = 0  # bytes allocated to the file

    def read(self) -> Rows:
        """What the last writer kept (refused and not saved before it ended), {} for none or a damaged file."""
        try:
            with open(self.path, "rb") as f:
                head = f.read(HEADER)
                size = int(head) if head.strip().isdigit() else 0
                doc = json.loads(f.read(size)) if size else {}
        except (OSError, ValueError):
            return {}
        if not isinstance(doc, dict):
            return {}
        return {source: {k: (v.encode() if isinstance(v, str) else None) for k, v in rows.items()}
                for source, rows in doc.items() if isinstance(rows, dict)}

    def set_aside(self) -> None:
        """The file's ROOM bytes allocated now (at the writer's start), while the filesystem has several times that
        free: never the room whose want would make commits fail. Left as it is otherwise."""
        try:
            st = os.statvfs(os.path.dirname(self.path))
            if st.f_bavail * st.f_frsize < 4 * ROOM:
                self._room = min(ROOM, os.stat(self.path).st_size) if os.path.exists(self.path) else 0
                return
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o600)
            try:
                os.posix_fallocate(fd, 0, ROOM)
            finally:
                os.close(fd)
            self._room = ROOM
        except OSError:
            self._room = 0

    def forget(self, source: str) -> None:
        """`shipper reset` of `source` (no writer running): its kept rows go too, or the next start would commit them
        over the reset."""
        self.rows = self.read()
        if self.rows.pop(source, None) is not None:
            try:
                self._room = os.stat(self.path).st_size
            except OSError:
                return
            self.write()

    def refused(self, source: str, fragment: list[tuple[str, bytes | None]], error: BaseException) -> None:
        """A commit of `fragment` refused (`error`): for want of room, kept, and written in place with what was
        refused before."""
        if not _for_space(error):
            return
        self.rows.setdefault(source, {}).update(fragment)
        self.write()

    def saved(self, source: str, fragment: list[tuple[str, bytes | None]]) -> None:
        """A commit of `fragment` saved: what it saves is no longer kept."""
        rows = self.rows.get(source)
        if not rows:
            return
        for key, _ in fragment:
            rows.pop(key, None)
        if not rows:
            del self.rows[source]
        self.write()

    def write(self) -> None:
        """The rows kept, over the file's allocated room (no new block). Rows that do not fit, or a write that fails,
        leave the file as it was: the next start knows less, and names what they were to save as it did before
        (the agent's stop says so: "stopped while checkpoints cannot be saved"). The writer logs nowhere: its
        answers are its word, and the refused commit's error is that."""
        if not self._room:
            return
        doc = {source: {k: (None if v is None else v.decode()) for k, v in rows.items()}
               for source, rows in self.rows.items()}
        body = json.dumps(doc, separators=(",", ":")).encode() if doc else b""
        if HEADER + len(body) > self._room:
            return
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
            try:
                os.pwrite(fd, str(len(body)).ljust(HEADER - 1).encode() + b"\n" + body, 0)
                os.fdatasync(fd)
            finally:
                os.close(fd)
        except OSError:
            pass
