"""The checkpoint of one followed file, as persisted (a JSON value under `f:<file id>`)."""
from __future__ import annotations

import functools
import logging
import sys
from dataclasses import dataclass, field
from typing import Any

from pydantic import TypeAdapter, ValidationError

from shipper.checkpoint import CheckpointTooNew

log = logging.getLogger("shipper.tail")

FILE_PREFIX = "f:"
# The layout of a file's checkpoint value ("v"). Version 1 is the first; a value without "v" was written before the
# field existed and is version 1 too (the fields added since — size, gz, cont, gone, unmatched, earlier, gen, ahead,
# cut, mtime, after, reread_to, born, spaced, looked, head_window — take their defaults, and the next save writes "v": 1). A field
# added with a default that means "not known" keeps version 1: a version before it ignores a key that is no field of
# its own (_validator) and knows that much less. A later layout gets a higher number and an upgrade of the older
# values in from_json; a value of a higher version than this one reads makes the source refuse to start
# (load_states): read as "damaged", its file would be followed as a new one, its lines shipped again or skipped.
STATE_VERSION = 1
EARLIER_MARKS = 16  # earlier (offset, mark) pairs kept: prove a copy shorter than what was read, after a restart
# (offset, mark) pairs at doubling read positions kept: a file beginning with any part of what was read past its
# first 1/2**SPACED_MARKS is told to repeat lines, after a restart (FileState.spaced)
SPACED_MARKS = 4
# A tombstone's earlier and spaced marks, ahead and reread_to: one empty list for all (56 bytes each, four per
# tombstone).
# Never changed in place: advance(), the harvester and the prospector give a state new lists, never append.
_NONE: list = []
SEEN_PREFIX = "seen:"  # a live path whose rotation family has been looked at once (see discovery)
# window-copy:<device>:<inode> -> its birth time (ns): a copy a copytruncate window was named with (copies.window_named_by)
WINDOW_COPY_PREFIX = "window-copy:"
# waiting:<device>:<inode> -> [its birth time (ns), its path, the file it waits to be told from]: a file waiting to be
# told apart from a copy (Prospector.undecided)
WAITING_PREFIX = "waiting:"
# looked:<fid> -> the size a look saw that content at while the reader was held back (looks.to_keep): saved at once,
# not with a batch, so that it outlives a kill -9 during an output outage (nothing delivered, nothing saved at a stop);
# load_states gives the state the larger of it and its own `looked`
LOOKED_PREFIX = "looked:"


@dataclass(slots=True)  # (no __dict__: ~110 bytes less for each state, a tombstone's among them)
class FileState:
    fid: str  # identity.file_id of the content; part of every record key
    dev: int
    ino: int
    head_len: int  # the fingerprinted head: its length and hash
    head: str
    offset: int  # next byte to read (always just after a newline or a cut piece)
    mark: str  # hash of the bytes just before `offset` (identity.MARK_MAX), "" at offset 0
    path: str  # name it had when last seen
    family: str  # the live path it belongs to (its name before any rotation)
    size: int = 0  # size when last seen: offset < size means unread data
    gz: bool = False  # read through gzip (a compressed backup); offsets are of the decompressed data
    cont: bool = False  # offset is inside a line cut at max_line_bytes: the next piece is flagged too
    # Wall-clock time it was read to its end and found gone (a tombstone), 0 while it is not: a
    # restart must not make a tombstone young again (restarted every hour, they never went).
    gone: float = 0.0
    # Wall-clock time since which no path of the source matches its family (a reload took it out of
    # `paths`), 0 while one does: kept (put back, it goes on from here) until OUT_OF_SCOPE_SECONDS.
    unmatched: float = 0.0
    # [offset, mark] of line ends read before `offset`, ascending: the last EARLIER_MARKS / 2 of them,
    # and as many older ones thinned out (a new list each time: an emitted checkpoint keeps the list
    # it was given). A copytruncate copy ending at or after one of them is proven a copy of what
    # was read up to there, with no bytes kept in memory (after a restart).
    earlier: list = field(default_factory=list)
    # The inode's generation when it was identified (holder.generation: ext4, xfs, btrfs), -1 where
    # the file system has none: an inode given to a new file has another (ext4 reuses them at once).
    gen: int = -1
    # [offset, mark] of a line end past `offset` seen when the file was identified, before any of it
    # was read (the end of its last complete line then, and the hash of the MARK_MAX bytes before
    # it), [] otherwise. A kill -9 before the first delivery leaves offset 0 committed, and nothing
    # read proves that a rotated or compressed file holds this content; these bytes do. Used only
    # while offset is 0; dropped once it moves.
    ahead: list = field(default_factory=list)
    # It starts again after a truncation already told (Followed.cut_seen): a hole at its start, left
    # by a writer without O_APPEND, is no news after a restart either (it was called a loss).
    cut: bool = False
    # Its mtime (ns) when it was identified, 0 when unknown: a live file read no further than its head
    # and no longer than that after a restart, its mtime moved, was cut and given its head again
    # while the agent was away (Prospector._cut_while_away). A placeholder's (no complete line yet): at
    # the look that saved it (Prospector._cut_empty_while_away).
    mtime: int = 0
    # The file id of the content its inode held before it was truncated in place and written again
    # (identity.file_id's `after`), "" for none: kept by a placeholder until the inode has a head, so
    # the new content gets an id of its own after a restart too, not the old one's again.
    after: str = ""
    # [offset, mark] of where the run that saved this state had read its file to, when a stop with an output down
    # saved it at the position it was found at (Tailer.unsaved_states: read again from there), [] otherwise. The
    # outputs that stored lines before that end are noted by the lines' event ids, which name their positions: an
    # edit while the agent was stopped moves them, and the re-read would send them again unnamed (or skip a line an
    # output lacks). These bytes tell such an edit (edits.reread_edited); dropped once the read passes them.
    reread_to: list = field(default_factory=list)
    # [offset, mark] of line ends read at doubling offsets (each at least twice the one before it, the first past
    # the head), the last SPACED_MARKS of them: any prefix of what was read that reaches the first holds one of them
    # at no less than half its length. They only name a repeat, never decide which file is which (a banner shared
    # by a family's files can make the first ones weak): a file at the live name that begins with what was read up
    # to one of them, met after a restart (an older copy restored over the live log while the agent was stopped),
    # is read as new with its repeat warned (copies.restored_prefix_while_away). Dropped by a tombstone.
    spaced: list = field(default_factory=list)
    # A placeholder's birth time (ns) at the listing that found it (birth.py), 0 when none was had: a file never opened
    # (renamed during the scan that found it) has no generation, and after a restart this alone tells it from another
    # file given its inode since (Loose.born; taken for it, the lines it held went without a word: torture 193122).
    born: int = 0
    # The largest size a look saw its file at between its reads, its last byte data (Followed.looked_size, looks.py),
    # 0 for none: kept across a stop and a reload's restart, so that a read after them that ends short of it names the
    # cut above what was read. It is of the inode it was seen on: a copy or a .gz of the content starts with none.
    looked: int = 0
    # A copytruncate window was named for it with a copy of all that was read, its head or a header of a few lines, as
    # its file grew from it (copies.head_copy_of_grown): the copy's length, 0 for none (1, `true` in a checkpoint
    # written before session 30: a copy of its head alone). That copy, or its .gz, found holding as much once the file
    # is found cut, is the same window (gone.copytruncate_loss, Prospector._attach). Kept across a kill -9: the
    # restart named it again (torture seed 400238).
    head_window: int = 0

    def window_copy_len(self) -> int:
        """The length of the copy a window was named with as the file grew (head_window), 0 for none."""
        return self.head_len if self.head_window == 1 else self.head_window

    def advance(self, offset: int, mark: str, between: list | None = None) -> None:
        """The read position moves on to `offset`, whose bytes before it hash to `mark`; `between`:
        [offset, mark] of line ends passed on the way (ascending)."""
        new = [[self.offset, self.mark]] if self.offset > self.head_len and self.mark else []
        points = self.earlier + new + (between or [])
        if len(points) > EARLIER_MARKS:
            half = EARLIER_MARKS // 2
            points = points[:-half][::2][-half:] + points[-half:]
        self.earlier = points
        self.offset, self.mark = offset, mark
        if self.reread_to and offset >= self.reread_to[0]:
            self.reread_to = []

    def space(self, marks: list) -> None:
        """[offset, mark] of line ends just read at doubling offsets past the last spaced one (ascending)."""
        self.spaced = (self.spaced + marks)[-SPACED_MARKS:]

    def next_spaced(self) -> int:
        """The least offset the next spaced mark may be at."""
        return 2 * self.spaced[-1][0] if self.spaced else self.head_len + 1

    def bury(self, wall: float) -> None:
        """Read to its end and gone since `wall` (a tombstone, kept an hour): it keeps only what a
        later decision about another file needs — its inode and size read (the inode given to a new
        file), its head and the mark at its end (its compressed copy, or the file written to again
        after it was moved away, holds those bytes up to `offset`), its family (a file holding no
        more than its head). Not the earlier marks: they prove a copy *shorter* than what was read,
        which only a live file truncated under the reader has (copytruncate); a rotated file read
        to its end is copied whole. They were ~3 KB of the ~4.4 KB a tombstone held in memory, and
        most of its checkpoint value (bench/soak_tombstones.py, bench/README.md "Soak")."""
        self.gone, self.looked = wall, 0
        self.earlier, self.ahead, self.reread_to, self.spaced = _NONE, _NONE, _NONE, _NONE
        # (Its family's backups share these names: one string each, not one per tombstone.)
        self.path, self.family = sys.intern(self.path), sys.intern(self.family)

    def bury_at_read(self, wall: float) -> None:
        """Deleted with a rest unread that a loss message named: gone since `wall`, read up to where it was, so
        that the next start, finding it nowhere, does not name those bytes again."""
        self.size = self.offset
        self.bury(wall)

    @property
    def key(self) -> str:
        return FILE_PREFIX + self.fid

    def to_json(self) -> dict[str, Any]:
        # By hand: dataclasses.asdict deep-copies field by field, 6 % of the live tailer's time
        # when each batch is a line or two (bench/README.md). Same keys as the fields.
        return {"v": STATE_VERSION, "fid": self.fid, "dev": self.dev, "ino": self.ino, "head_len": self.head_len, "head": self.head,
                "offset": self.offset, "mark": self.mark, "path": self.path, "family": self.family,
                "size": self.size, "gz": self.gz, "cont": self.cont, "gone": self.gone,
                "unmatched": self.unmatched, "earlier": self.earlier, "gen": self.gen, "ahead": self.ahead,
                "cut": self.cut, "mtime": self.mtime, "after": self.after, "reread_to": self.reread_to,
                "born": self.born, "spaced": self.spaced, "looked": self.looked, "head_window": self.head_window}

    @classmethod
    def from_json(cls, value: Any) -> "FileState | None":
        """None for a value this version cannot read (load_states names it): not of this layout, or
        damaged — a field missing or of the wrong type, which the tailer would trip over later."""
        if not isinstance(value, dict) or version_of(value) != STATE_VERSION:
            return None
        try:
            return _validator().validate_python(value)
        except ValidationError:
            return None


@functools.cache
def _validator() -> TypeAdapter[FileState]:
    """pydantic checks each field against its annotation (a number where a number belongs) and ignores
    keys that are no field ("v"); ~3 µs a state, once per start. Its schema takes ~30 ms of a core to
    build: at the first state read, not at every start of the agent (nor in `shipper check`)."""
    return TypeAdapter(FileState)


def version_of(value: dict) -> Any:
    """The layout version of a file's checkpoint value (1 without "v": written before it existed)."""
    return value.get("v", 1)


def load_states(state: dict[str, Any], warn: bool = False) -> tuple[list[FileState], set[str]]:
    """The file states and seen paths of a source's checkpoint. `warn` (the tailer, once per start):
    refuse a state written by a later version (CheckpointTooNew: the source does not start), and
    name each damaged one: its file is then met as a new one, and read_from decides whether its
    lines are read again or skipped — never without a word."""
    files, seen = [], set()
    for key, value in state.items():
        if key.startswith(FILE_PREFIX):
            st = FileState.from_json(value)
            if st is not None:
                if st.gone:  # (saved as gone while still open, or by a version that kept the marks)
                    st.bury(st.gone)
                elif type(looked := state.get(LOOKED_PREFIX + st.fid)) is int:
                    st.looked = max(st.looked, looked)
                files.append(st)
                continue
            if not warn:
                continue
            version = version_of(value) if isinstance(value, dict) else None
            path = value.get("path") if isinstance(value, dict) else None
            if type(version) is int and version > STATE_VERSION:
                raise CheckpointTooNew(f"checkpoint {key} (file {path}) is written by a later version of shipper "
                                       f"(tail state version {version}; this one reads {STATE_VERSION})")
            log.warning(f"checkpoint {key} is damaged (not a file state this version can read): its file is "
                        "followed as a new one, so read_from decides whether its lines are read again or skipped",
                        extra={"path": path, "key": key})
        elif key.startswith(SEEN_PREFIX):
            seen.add(key[len(SEEN_PREFIX):])
    return files, seen


def window_copies(state: dict[str, Any]) -> dict[tuple[int, int], int]:
    """The copies a copytruncate window was named with, as the run that saved `state` left them: (device, inode) ->
    birth time. (Kept across a restart: named again with the same copy after a kill -9, one window was two, torture
    seeds 197052, 197158.) A key or value this version cannot read is left out: its window may be named again."""
    return _born_by_inode(state, WINDOW_COPY_PREFIX)


def waiting_files(state: dict[str, Any]) -> dict[tuple[int, int], tuple[int, str, str]]:
    """The files waiting to be told apart from a copy when the run that saved `state` last looked: (device, inode) ->
    (birth time, its name then, the file it could not be told from; "" where an older version saved the birth time
    alone) (Prospector._waiting_before at a restart's first scan; torture seeds 300005, 192102; gone since, named:
    500233)."""
    out = {}
    for key, value in state.items():
        if not key.startswith(WAITING_PREFIX):
            continue
        dev, _, ino = key[len(WAITING_PREFIX):].partition(":")
        if type(value) is int:
            value = [value, "", ""]
        if (dev.isdigit() and ino.isdigit() and isinstance(value, list) and len(value) == 3 and type(value[0]) is int
                and all(isinstance(x, str) for x in value[1:])):
            out[(int(dev), int(ino))] = (value[0], value[1], value[2])
    return out


def waiting_key(key: tuple[int, int]) -> str:
    """The checkpoint key of a file waiting to be told apart (WAITING_PREFIX)."""
    return f"{WAITING_PREFIX}{key[0]}:{key[1]}"


def _born_by_inode(state: dict[str, Any], prefix: str) -> dict[tuple[int, int], int]:
    out = {}
    for key, value in state.items():
        if key.startswith(prefix) and type(value) is int:
            dev, _, ino = key[len(prefix):].partition(":")
            if dev.isdigit() and ino.isdigit():
                out[(int(dev), int(ino))] = value
    return out
