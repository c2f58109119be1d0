"""What the holder's events show of copies: a plain file created (not renamed in) under a rotated name of a
family while the holder had a file at the family's live name is a copy of that file — logrotate's
`copytruncate` (or `copy`) makes its backups so; `create` and Log4j rename the live file, and a `.gz` is made
by compressing a backup. The holder notes each (CopyMade, with the compressed form when the copy is
compressed before the holder could open it); the tailer's next scan takes the notes and decides, by the bytes
of both, whether the live file was truncated after the copy (copies.copy_of_unread_live): a window that only
these events show when the tailer never looked at that live file (it was made, written, copied and cut
between two scans: torture seeds 192000, 192006, 192110).

Used by the holder with its lock held (one thread at a time).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from shipper.tail import birth
from shipper.tail.reader import is_gzip_path

BOUND = 256  # copies noted and not taken yet, per holder (the oldest forgotten beyond)


@dataclass(frozen=True)
class AtLive:
    """A file the holder opened at a family's live name, as it was then."""
    ident: tuple[int, int, int | None]  # (device, inode, generation)
    born: int  # its birth time (ns)
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class CopyMade:
    """A copy of `live` made under `path` (a rotated name of `family`): `copy` is the file the holder opened there
    (or, gone before it could, its compressed form: `compressed`)."""
    family: str
    path: str
    live: AtLive
    copy: tuple[int, int, int | None]
    compressed: bool


class CopyEvents:
    def __init__(self) -> None:
        self._at_live: dict[str, AtLive] = {}  # family -> the file at its live name, by the events read so far
        self._unopened: dict[str, tuple[str, AtLive]] = {}  # a copy's path gone before it was opened -> (family, live)
        self._made: list[CopyMade] = []

    def live(self, family: str, fd: int, st: os.stat_result, gen: int | None) -> None:
        """The file open as `fd` was met at `family`'s live name (created or renamed there)."""
        born = birth.born(f"/proc/self/fd/{fd}", st.st_ino)
        if born is None:  # (no birth time: a copy cannot be told from a file older than it; nothing is noted)
            self._at_live.pop(family, None)
        else:
            self._at_live[family] = AtLive((st.st_dev, st.st_ino, gen), born, st.st_size, st.st_mtime_ns)

    def left_live(self, family: str) -> None:
        """`family`'s live name was renamed away or deleted (or was empty when opened)."""
        self._at_live.pop(family, None)

    def created(self, family: str, path: str, fd: int, st: os.stat_result, gen: int | None) -> None:
        """A file was created (not renamed in) under `path`, a rotated name of `family`, and is open as `fd`."""
        if is_gzip_path(path):
            was = self._unopened.pop(path[:-3], None)
            if was is not None and was[0] == family:
                self._note(CopyMade(family, path[:-3], was[1], (st.st_dev, st.st_ino, gen), True), fd, st)
            return
        live = self._at_live.get(family)
        if live is not None:
            self._note(CopyMade(family, path, live, (st.st_dev, st.st_ino, gen), False), fd, st)

    def created_unopened(self, family: str, path: str) -> None:
        """A plain file created under `path`, a rotated name of `family`, was gone when the holder came to open it
        (compressed at once, as logrotate's `compress` does): its `.gz`, if created next, is its copy."""
        live = self._at_live.get(family)
        if live is not None and not is_gzip_path(path):
            self._unopened[path] = (family, live)
            if len(self._unopened) > BOUND:
                del self._unopened[next(iter(self._unopened))]

    def _note(self, made: CopyMade, fd: int, st: os.stat_result) -> None:
        # Born after the live file, and not that file itself: the holder opens a name when it reads the event, and a
        # lagging holder may find a later file there (the live file renamed over the copy's name by the next
        # rotation, or the next live file).
        born = birth.born(f"/proc/self/fd/{fd}", st.st_ino)
        if born is None or born <= made.live.born or made.copy[:2] == made.live.ident[:2]:
            return
        self._made.append(made)
        if len(self._made) > BOUND:
            del self._made[0]

    def take(self) -> list[CopyMade]:
        made, self._made = self._made, []
        return made
