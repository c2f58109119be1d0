"""What the tailer knows of each file: a file it follows (Followed), a content no inode it knows
holds now (Loose), and a file a scan listed (Observed)."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TypeGuard

from shipper.tail import clock
from shipper.tail.reader import OpenFile
from shipper.tail.state import FileState

# A closed file's size and mtime, unchanged since a look, show it untouched only if its mtime was older
# than that look by more than the file system's clock tick (ext4: a jiffy, 4-10 ms): a file made since,
# on its inode, has a later one. (As git's "racily clean" index entries.)
RACY_NS = 1_000_000_000


@dataclass
class Followed:
    """A physical file (one inode) being followed. `state` is None until it has an identity (then
    it is an Identified)."""

    path: str
    family: str
    dev: int
    ino: int
    gz: bool
    state: FileState | None = None
    start: int = 0  # where to start once the identity is known
    fh: OpenFile | None = None
    tail: bytes = b""  # the bytes just before state.offset (up to MARK_MAX)
    size: int = 0
    mtime_ns: int = 0
    seen_size: int = 0  # the size stat() gave with mtime_ns (f.size moves on with reads)
    settled: bool = False  # mtime_ns was older than the look that took it by RACY_NS (see Matcher.same_content)
    cut_seen: bool = False  # starts again after a truncation already reported (a hole at 0 is no news)
    active_at: float = field(default_factory=clock.monotonic)
    at_eof: bool = False  # no complete line left to read (at most a partial one)
    read_to: int = -1  # the size at the last read that reached the end
    # When (tailer clock) the last read that found nothing beyond what it read began: its last look at its end
    # (attention.Lapses.since: were writes missed after it?)
    looked_at: float = float("-inf")
    looked_mtime_ns: int = 0  # its mtime then (0: unknown)
    looked_ctime_ns: int = 0  # its change time then (0: unknown)
    # The watcher's events for it noted so far: written to or cut (IN_MODIFY), its times or mode changed (IN_ATTRIB):
    # Tailer.noted, before each look of the source's thread (a look then knows what came after the one before it).
    writes: int = 0
    touches: int = 0
    # (size, mtime, change time, writes, touches) at the last look at it (looks.stat), and the size at which a look
    # found it as long as at the look before but changed and written to since: written to and cut back to it, its
    # mtime set back too (cut_back_restored) or not; -1: not found so (truncation.cut_back_unseen says it).
    stat_seen: tuple[int, int, int, int, int] | None = None
    cut_back_at: int = -1
    cut_back_restored: bool = False
    # When (tailer clock) a look first found it shorter than what was read: cut by then. A stop or freeze of the
    # process that ended after it began after it too, and hid no write before the cut (attention.Lapses.since).
    cut_looked_at: float | None = None
    deleted: bool = False
    # Listed larger than what was read while closed, then gone before it could be opened: its inode may hold another
    # file by then (ext4 gives a freed inode to the next file), so what it lost unread is that size less what was read
    # "or more" (Prospector._scan, MovedDuringScan).
    grown_unopened: bool = False
    unnamed: bool = False  # open, not deleted, under no name we look at (moved away): read by descriptor
    window: bytes = b""  # a live file's last bytes before state.offset (identity.WINDOW), while open
    held_fd: int | None = None  # the holder's descriptor, until the tailer opens its own
    final: bool = False  # deleted and idle: its unfinished last line will never end, shipped as it is
    written_deleted: bool = False  # written to after it was deleted: its writer still has it (kept longer)
    deleted_seen: tuple[int, int] | None = None  # (size, mtime_ns) when a scan first found it deleted
    zeros: bool = False  # read up to zeros that run to its end (a mapped file): inotify sees no write into them
    # The largest size a look between its reads saw, its last byte data: a read that ends short of it found the file
    # cut above what was read (looks.py).
    looked_size: int = 0
    # A compressed file read to where its stream ends early: (its size then, since when). Still
    # being written, it grows; unchanged for UNDECIDED_SECONDS, it was cut short: a loss.
    gz_cut: tuple[int, float] | None = None
    gz_cut_told: bool = False
    # Its inode's generation when it was followed with no identity yet (-1: none to be had): its
    # inode alone matches it while it is closed, and ext4 gives a freed inode to the next file.
    gen: int = -1
    # No identity, never opened: its name held another file (or none) when it was to be (renamed
    # during the scan that found it). Its inode under a live name later is another file (see
    # Matcher.same_content).
    unopened: bool = False
    # Found under a rotated name with less than a line in it, to be read from its start: maybe a
    # copy logrotate had only created (`copytruncate` fills it next, and the create woke the
    # agent). Not identified nor read until a scan, seeing it grown, has looked at it again as a
    # file just found: a copy is told apart first (_follow_new).
    unproven: bool = False
    # Followed anew on an inode whose content a scan found in a copy (a restart after copytruncate):
    # the copy's path and length. A hole at its start replaced that content, which the copy holds up
    # to its end (Harvester.read).
    copied_to: tuple[str, int] | None = None
    # Closed, and found replaced when it was to be reopened: its inode holds another file
    # (Descriptors.is_the_file). It is in no name any more; that file is another.
    replaced: bool = False
    # Its birth time when the scan that found it listed it (birth.py), None if none was had: what
    # tells it from a file given its inode when it has no generation (never opened: `unopened`).
    born: int | None = None
    # The file id of the content its inode held before a truncation in place (FileState.after): the
    # content it holds now is named after it, never the same.
    after: str = ""
    # The name of the content it is a copy of, given by the scan that found it (copy_names.py): a later copytruncate
    # copy holds the content the live file held then, at the same offsets, and its lines keep their record keys.
    named: str = ""
    # A later copytruncate copy's (copy_names.py): the length of the copy made before it. A writer without O_APPEND
    # left a hole at its start as long as the content cut before it: that long, nothing was written between that copy
    # and the cut, and the bytes it stands for are in that copy (no loss); longer, the window's (named).
    hole_of: int = -1
    # A backup overwritten in place under the reader (`shred`), what it held unread named lost (Harvester.overwritten_
    # under): read to its end; a cut after it (`shred -u`) is no news.
    overwritten: bool = False

    def deleted_open(self) -> bool:
        """Is it deleted and open (by the tailer, or through the holder's descriptor)? Its last descriptor, let go at
        a stop, takes its unread bytes with it; a scan sees a file the holder keeps under the name it had, not marked
        deleted. A number that is not this file's any more is not: the stop lets the holder's descriptors go before
        it saves (Tailer.unsaved_states), and a number given meanwhile to a deleted temporary file made a file still
        on disk saved gone, its loss unnamed (tests/tail/test_stop_saves_held_fd_reused.py)."""
        fd = self.fh.fd if self.fh is not None else self.held_fd
        if fd is None:
            return False
        try:
            st = os.fstat(fd)
        except OSError:
            return False
        return (st.st_dev, st.st_ino) == (self.dev, self.ino) and st.st_nlink == 0

    def read_upto(self) -> int | None:
        """How much of its file was read, as a position in the file; None when that cannot be told (a
        compressed file read in part: its offset is in the data it decompresses to)."""
        offset = self.state.offset if self.state is not None else 0
        if self.gz and offset:
            return 1 << 62 if self.at_eof and self.fh is not None and not self.fh.cut else None  # (read to its end)
        return offset


class Identified(Followed):
    """A followed file with its identity: `state` holds its content's checkpoint (what is read,
    saved and compared). The two lifecycles of a Followed, seen by the type checker: one without a
    state has only an inode and a `start`, and waits for a complete line (Prospector.identify); once
    identified it is read. No Identified is made: a Followed is narrowed to one (is_identified)."""

    state: FileState


def is_identified(f: Followed) -> TypeGuard[Identified]:
    return f.state is not None


@dataclass(slots=True)  # (no __dict__: ~100 bytes less for each, a tombstone's among them)
class Loose:
    """A state whose content is not on any inode we know now (restart, rotation out of view,
    truncation, compression)."""

    state: FileState
    missing: int = 0
    since: float = field(default_factory=clock.monotonic)
    gone_at: float | None = None  # fully read and gone: kept as a tombstone until TOMBSTONE_SECONDS
    truncated: bool = False  # its inode was truncated under it (so not "the live file, gone")
    # Truncated with writes the tailer may not have seen before the cut (a lapse of its attention since its last look at
    # its end, or a writer busy just before the cut: shipper/tail/attention.py): why; "" when none but in the instant
    # before the cut could be
    unseen_writes: str = ""
    unseen_in_lapse: bool = False  # … because of a lapse of attention (not only a busy writer)
    window: bytes = b""  # the bytes read just before state.offset, kept from the truncated live file
    trunc_size: int = 0  # the size the file was last seen at before its truncation
    regrown: bool = False  # its inode holds its head but other bytes (truncated while we were away, or reused)
    cut_in_place: bool = False  # … and that inode is of the same generation: truncated in place, surely
    regrown_empty: bool = False  # … and it is empty: emptied, not written again
    cut_to: int = 0  # truncated to this many bytes, all of them read (`truncate -s`): its inode reads on from there
    # Its first bytes cut in place by this many (collapse-range), or (1) written back edited in place: its inode
    # reads on, nothing lost.
    collapsed: int = 0
    out_of_scope: bool = False  # no path of the source matches its family now (waits for nothing)
    # A tombstone loaded with bytes after its offset: the end of a last line without a newline, not
    # shipped yet when the agent stopped (the file deleted, its grace not over). Found again, it is
    # read; not found, those bytes are a loss.
    unshipped: int = 0
    never_read: str = ""  # a placeholder of a file that could not be opened: why (errno)
    reused: bool = False  # its inode holds another file (another generation): it was deleted
    born: int | None = None  # a placeholder's birth time when listed (Followed.born), None if none was had
    # Loaded at this start as the newest rotated content of a family whose live file was empty at the save: its writer
    # may have written on to it after the save (gone.mark_written_on).
    written_on: bool = False
    grown_unopened: bool = False  # (Followed.grown_unopened)


# The name a file the holder caught at its live name is known by once it is under no name of its family (renamed
# away before a scan saw it, or deleted): "<live name> (rotated away, held open)".
ROTATED_AWAY = " (rotated away, held open)"


@dataclass
class Observed:
    path: str
    family: str
    direct: bool
    st: os.stat_result
    gz: bool
    fd: int | None = None  # held by the holder (its name may be gone)
    at_ns: int = 0  # wall clock before the stat (0: unknown)
    active_at: float | None = None  # handed over by a restarted source: when its tailer last read it
    born: int | None = None  # its birth time at the listing (birth.py; not taken for a file held open)

    @property
    def settled(self) -> bool:
        """Was its mtime older than this look by more than a clock tick? (see RACY_NS)"""
        return self.st.st_mtime_ns < self.at_ns - RACY_NS


class MovedDuringScan(FileNotFoundError):
    """The name a scan listed holds another file now (renamed or deleted since it was listed)."""
