"""Looks at a followed file's size between its reads, and the cut above the read position they show.

A log cut in place to a size above the position its reader has reached (`truncate -s` to a size limit while the
reader is held back by an output down) still holds every byte before that position, so nothing at the next read
shows the cut: the bytes between the cut and the size the file had were read as if it had only grown less. A look
at its size in between (the watcher's gather window, the file source's look while ctx.emit holds it, /status) tells:
a read that then ends short of the size looked at found the file shorter than it was. Two things that are no cut
are kept out: a look after a read is no evidence against that read (the file grown since, while the reader was held:
a reload's restart named "924 bytes or more" lost that were read next, 3c2c4fb), so each read compares only a look
taken before it; and zeros at a file's end are no data (Log4j 2's memory-mapped file is grown with them and cut back
to its lines at close), so a look whose last byte is zero notes nothing.
Looks come from the source's thread and from the HTTP thread (/status): one lock keeps a look and the clearing after
a cut in order (a look from before the cut written after it would name the cut again).
The size looked at is kept in the file's checkpoint (FileState.looked): a stop saves it, a reload's restart hands it
to the successor, and a start reads it back for the inode it was seen on; a cut found only after them is named too.
A look while the reader is held saves it at once too, in an entry of its own (to_keep): nothing is delivered during
an output outage, and a kill -9 then kept nothing of it.
(tests/tail/test_attack25_cut_above_read_position_silent.py, test_attack26_cut_above_read_position_across_a_*.py)
"""
from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shipper.tail import clock
from shipper.tail.state import FILE_PREFIX, LOOKED_PREFIX

if TYPE_CHECKING:
    from shipper.tail.followed import Followed, Identified
    from shipper.tail.losses import LossLedger
    from shipper.tail.reader import OpenFile
    from shipper.tail.state import FileState

_lock = threading.RLock()  # (look() takes it, and stat() within it)


def look(f: Followed, ordered: bool = False) -> int:
    """The size of plain file `f` now, through the tailer's descriptor (0 when it has none open, or a .gz), noted as
    looked at (Followed.looked_size) when its last byte is data. Safe from another thread: the descriptor is read once
    and must still be `f`'s (the source thread may close it, and its number go to another file). `ordered`: the
    watcher's events up to now were noted before it (the source thread's looks), so it is a look of stat()'s too."""
    fh = f.fh
    if fh is None or f.gz:
        return 0
    with _lock:
        try:
            st = stat(f, fh, ordered)
            if (st.st_dev, st.st_ino) != (f.dev, f.ino):
                return 0
            size = st.st_size
            if size > f.looked_size and os.pread(fh.fd, 1, size - 1) not in (b"", b"\0"):
                f.looked_size = size
                if f.state is not None:
                    f.state.looked = size  # (saved with it: kept across a stop, handed over at a reload)
        except OSError:
            return 0
    return size


def stat(f: Followed, fh: OpenFile, ordered: bool = True) -> os.stat_result:
    """fstat of `f`'s descriptor `fh`, as a look taken after the watcher's events up to now were noted (Tailer.noted:
    Followed.writes, .touches). One that finds it as long as at the look before, but changed since (its change time
    moved, which nothing sets back), written to in between (IN_MODIFY) and, its mtime as it was, its times changed too
    (IN_ATTRIB: set back), notes that size (Followed.cut_back_at): lines appended were cut away before any read could
    see them (truncation.cut_back_unseen). A chmod, a touch or a rename moves the change time with no write after the
    look before: no cut. (Events noted only after a later look were taken for writes after it: a chmod during an
    outage bore out a cut with the IN_MODIFY of the writes the look had seen,
    tests/tail/test_attack26_chmod_touch_during_outage_false_loss.py.) Not `ordered` (/status's, from another thread),
    it notes only a cut below the read position seen."""
    with _lock:  # (the fstat too: looks from two threads are noted in the order they were taken)
        st = os.fstat(fh.fd)
        if (st.st_dev, st.st_ino) != (f.dev, f.ino):
            return st
        if f.cut_looked_at is None and f.state is not None and st.st_size < f.state.offset:
            f.cut_looked_at = clock.monotonic()  # (the process ran then: Lapses.since)
        if not ordered:
            return st
        seen = f.stat_seen
        f.stat_seen = (st.st_size, st.st_mtime_ns, st.st_ctime_ns, f.writes, f.touches)
        if (seen is not None and seen[0] == st.st_size and seen[2] != st.st_ctime_ns and f.writes > seen[3]
                and (seen[1] != st.st_mtime_ns or f.touches > seen[4])):
            f.cut_back_at, f.cut_back_restored = st.st_size, seen[1] == st.st_mtime_ns
    return st


def cut_above(f: Identified, fh: OpenFile, end: int, looked: int, ledger: LossLedger) -> None:
    """`f`, looked at `looked` bytes long before a read that found its end at byte `end` (at or past its read
    position), was cut in place above that position: what was between the cut and `looked` is in no file, at least
    looked - end bytes (more if it was written on after the cut): a named loss. Not when the bytes before the read
    position changed (cut below it, or written again: check_truncated's, at the next read), nor when only a header was
    read (cut back to it: a copytruncate, whose copy holds the rest)."""
    with _lock:
        f.looked_size = f.state.looked = 0  # (said once)
    s = f.state
    try:
        if s.offset <= s.head_len or (end == s.offset and fh.stat().st_size < end):
            return
        if f.tail and fh.read(s.offset - len(f.tail), len(f.tail)) != f.tail:
            return
    except OSError:
        return
    ledger.lost(f.path, looked - end,
                f"were cut away unread: the file was cut in place above what had been read (byte {s.offset}) after a "
                f"look saw it {looked} bytes long; it ends at byte {end} now. The line at the cut may end short, "
                "joined to the next line written", unknown=True)


def to_keep(states: Iterable[FileState], kept: dict[str, int], saved_of: Callable[[str], Any] | None,
            grown: bool) -> dict[str, int | None]:
    """The checkpoint entries (state.LOOKED_PREFIX) that keep the sizes looked at of `states` beyond what is saved of
    them, as they changed since `kept` (key -> size, those entries as saved; updated). A delivered batch's checkpoint
    keeps the size looked at when the batch was read; during an output outage nothing is delivered, and a kill -9 then
    lost the looks: the log cut in place above the read position while the agent was away was read on as if it had
    only grown less (tests/tail/test_looked_size_saved_at_stop_and_kill.py). `grown` (a look while the reader is held):
    each size above what was delivered of its file is kept; otherwise (housekeeping) only the entries no longer needed
    go: the size said (a cut named), the file delivered past it, its state gone. `saved_of`: the value saved of a
    state's key (None: what was read counts as delivered); a state never saved gets no entry (the next start meets its
    file as new)."""
    now: dict[str, int] = {}
    for s in states:
        if s.looked <= 0 or s.gz or (not grown and s.key not in kept):
            continue
        value = saved_of(s.key) if saved_of is not None else {"offset": s.offset}
        delivered = value.get("offset") if isinstance(value, dict) else None
        if type(delivered) is int and delivered < s.looked:
            now[s.key] = s.looked if grown else kept[s.key]
    out: dict[str, int | None] = {looked_key(k): size for k, size in now.items() if kept.get(k) != size}
    out.update((looked_key(k), None) for k in kept.keys() - now.keys())
    kept.clear()
    kept.update(now)
    return out


def looked_key(key: str) -> str:
    """The checkpoint key that keeps the size looked at of the state saved under `key` (to_keep)."""
    return LOOKED_PREFIX + key[len(FILE_PREFIX):]


def kept_at_start(state: Mapping[str, Any]) -> tuple[dict[str, int], dict[str, None]]:
    """Of a source's saved state: the sizes looked at its LOOKED_PREFIX entries keep, by their state's key (to_keep's
    `kept`), and the deletion of those whose state is gone."""
    kept: dict[str, int] = {}
    gone: dict[str, None] = {}
    for key, value in state.items():
        if key.startswith(LOOKED_PREFIX):
            if type(value) is int and FILE_PREFIX + key[len(LOOKED_PREFIX):] in state:
                kept[FILE_PREFIX + key[len(LOOKED_PREFIX):]] = value
            else:
                gone[key] = None
    return kept, gone


@dataclass(frozen=True, slots=True)
class Kept:
    """What the looks and the watcher told a tailer of a followed file since its last read, for the successor a
    reload's restart builds in this process (its clock the same): the size looked at (also in the checkpoint:
    FileState.looked), the last look's size and times, the writes and touches noted since, and a cut back found by a
    look and not decided yet. Without them a log written to and cut back to its size (its mtime set back) just before
    the restart went unsaid: the successor's first look had nothing to compare with
    (tests/tail/test_attack26_cut_back_across_a_reload_unsaid.py)."""

    looked_size: int
    stat_seen: tuple[int, int, int, int, int] | None
    looked_at: float
    looked_mtime_ns: int
    looked_ctime_ns: int
    writes: int
    touches: int
    cut_back_at: int
    cut_back_restored: bool
    cut_looked_at: float | None


@dataclass(frozen=True, slots=True)
class HandedLooks:
    """What a tailer stopped by a reload's restart hands its successor of its looks (Tailer.hand_looks_over): the size
    looked at of each content it knew, by its state's key (0 once a cut was named: the checkpoint may hold an older
    one), what it kept of each file it followed, and its last lapse of attention (end, cause, attested)."""

    looked: dict[str, int]
    kept: dict[str, Kept]
    lapse: tuple[float, str, float]


def kept(f: Followed) -> Kept:
    with _lock:
        return Kept(f.looked_size, f.stat_seen, f.looked_at, f.looked_mtime_ns, f.looked_ctime_ns, f.writes, f.touches,
                    f.cut_back_at, f.cut_back_restored, f.cut_looked_at)


def resume(f: Followed, k: Kept) -> None:
    """`f`, followed by a successor on the inode `k` was kept of, goes on from what its predecessor saw."""
    with _lock:
        f.looked_size = k.looked_size
        if f.state is not None:
            f.state.looked = k.looked_size
        f.stat_seen, f.looked_at, f.looked_mtime_ns, f.looked_ctime_ns = (k.stat_seen, k.looked_at,
                                                                          k.looked_mtime_ns, k.looked_ctime_ns)
        f.writes, f.touches = k.writes, k.touches  # (counted on from where stat_seen's were)
        f.cut_back_at, f.cut_back_restored, f.cut_looked_at = k.cut_back_at, k.cut_back_restored, k.cut_looked_at
