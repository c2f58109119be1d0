"""A known content's name now on another device: its folder mounted again from a copy (a snapshot restored, a
volume re-attached, `cp -a` onto a new disk), or a symlinked folder pointed at a copy on another file system.
Same names and bytes, another st_dev and other inodes, so no (device, inode) finds the content again. Whether the
file there holds it is decided as for any other file (Matcher.holds_read: its head and the bytes before the read
offset, past a shared header); this module only says what was decided, once for each file, since an operator who
did not remount anything should hear that the agent saw it: continuing where it was, or reading the file anew and
shipping again what it shares with the old one. (Filebeat keys files by device and inode and reads such a file
again without a word.) Functions over the Prospector (prospector.py, `p`).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from shipper.tail.followed import Observed
from shipper.tail.state import FileState

if TYPE_CHECKING:
    from shipper.tail.prospector import Prospector


def remounted(s: FileState, o: Observed) -> bool:
    """Is `o` the name `s` was last seen under, on another device (a plain file: a `.gz` elsewhere is a backup)?"""
    return o.path == s.path and o.st.st_dev != s.dev and not o.gz and not s.gz and s.head_len > 0


def continuing(p: Prospector, s: FileState, o: Observed, at: int) -> None:
    """`o`, the name of `s` on another device, holds what was read of it: read on from `at`."""
    p.log.info(f"{o.path} is on another device now (st_dev {s.dev} → {o.st.st_dev}), the same content for the "
               f"{at} bytes read: continuing at {at}", extra={"path": o.path, "offset": at})


def known_by_path(p: Prospector) -> dict[str, FileState]:
    """The contents a new file could be on another device of, by the name each was last seen under: loose, or
    followed through a descriptor kept (deleted, or under no name). Of several under one name, the one read furthest.
    (Made once a scan, at its first new file: a look through every followed file for each new one was quadratic in a
    folder of thousands.)"""
    known: dict[str, FileState] = {}
    states = [f.state for f in p.files.values() if f.state is not None and (f.unnamed or f.deleted)]
    for s in states + [lo.state for lo in p.loose.values()]:
        if s.head_len and not s.gz and (s.path not in known or s.offset > known[s.path].offset):
            known[s.path] = s
    return known


def read_anew(p: Prospector, o: Observed, known: dict[str, FileState]) -> None:
    """`o`, new and about to be read from its start: if a content read under its name on another device is known
    (`known`: known_by_path), that content is not proven in it: said, with the repeat it may bring."""
    s = known.get(o.path)
    if s is None or not remounted(s, o):
        return
    p.log.warning(f"{o.path} is on another device now (st_dev {s.dev} → {o.st.st_dev}) and does not hold what was "
                  f"read of it ({s.offset} bytes: it is shorter, other bytes are there, or no more than a first line "
                  "the family's files share was read, which proves nothing): read as a new file from its start, so "
                  "lines it shares with the file read before are shipped again",
                  extra={"path": o.path, "offset": s.offset})


def replaced(s: FileState, obs: dict[tuple[int, int], Observed]) -> str | None:
    """Why the content `s`, found nowhere, is gone, when its name is on another device now and holds another file
    (read_anew said so): the cause of the loss named for it, else None. (Called "rotated away … deleted" before.)"""
    o = next((x for x in obs.values() if remounted(s, x)), None)
    if o is None:
        return None
    return (f"is on another device now (st_dev {s.dev} → {o.st.st_dev}: its folder mounted again from a copy) and the "
            "file there does not hold what was read of it (an older copy, or another file): what was written to it "
            "after the last read is not there")
