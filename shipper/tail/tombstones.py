"""How many tombstones a source keeps (issue 23). A tombstone is a content read to its end and gone
(gone.tombstone), kept so that a later decision about another file knows it: its compressed copy
appearing later (recognised, not read again), its inode given to a new file (that file is new, and
gets a file id of its own), the file written to again after it was moved out of the paths
(Prospector.moved_away). Kept TOMBSTONE_SECONDS at most, and at most TOMBSTONES_PER_FAMILY of each
family and TOMBSTONES_PER_SOURCE in all: the oldest go first, from memory and from the checkpoint.

Why the newest of a family suffice: a rotation compresses or deletes the oldest content of a family,
and a content's compressed copy is written at the rotation that takes its plain file away (logrotate
`compress`; `delaycompress` at the next one, when the plain file goes): it is there by the scan
that finds the plain file gone, or the next ones, while its tombstone is among its family's newest.
A copy of an older one appears only from outside the rotation (restored by hand): one holding exactly a
forgotten content is known by a fingerprint kept of it (end_of_forgotten) and not read again; another, read as
new, is said when it may be one (copy_of_forgotten, head_of_forgotten). An inode given to a new file gives the
same decision without the tombstone (a new file, read from its start); its file id stays its own
where the file system has inode generations (ext4, xfs, btrfs), and elsewhere (tmpfs) by the ids
of the forgotten tombstones kept here (FORGOTTEN_IDS, across this run).
"""
from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from shipper.memo import BoundedMemo
from shipper.tail import scan_rules
from shipper.tail.followed import Identified, Loose, Observed
from shipper.tail.identity import HEAD_MAX, MARK_MAX, digest, head_of

if TYPE_CHECKING:
    from shipper.tail.prospector import Prospector

# File ids of forgotten tombstones of inodes without a generation (a new content on their inode with
# the same first line would get the same id: its record keys, so its event ids, those of lines shipped
# before), and families whose tombstones were forgotten: bounded (emptied when full).
FORGOTTEN_IDS = 8192
FORGOTTEN_FAMILIES = 4096
# (family, head, head length) of forgotten tombstones: a compressed file read as new that starts as one of them may
# be its copy whatever its mtime (restored by a plain `cp`). ~0.2 KiB each in memory at most.
FORGOTTEN_HEADS = 8192
# (family, head, head length, end) -> the hash of the MARK_MAX bytes before the end, of forgotten tombstones read past
# their head: a file read as new that holds exactly one of them (its head, its length, those bytes) is that content
# restored (by `cp` or `mv`, plain or compressed, over a backup or beside them), not read again. ~0.3 KiB each at most.
FORGOTTEN_ENDS = 8192
# The sources (by their logger) whose forgetting was said in this process: once, not at each restart a reload makes.
_TOLD: set[str] = set()


class Forgotten:
    """What the bound took from one source: how many, when it was said, and in bounded memos, what a
    later decision needs of them (their ids, the newest gone time of each family)."""

    def __init__(self) -> None:
        self.count = 0
        self.ids: BoundedMemo[str, bool] = BoundedMemo(FORGOTTEN_IDS)
        # family -> wall time the newest of its forgotten contents was found gone
        self.families: BoundedMemo[str, float] = BoundedMemo(FORGOTTEN_FAMILIES)
        self.heads: BoundedMemo[tuple[str, str, int], bool] = BoundedMemo(FORGOTTEN_HEADS)
        self.ends: BoundedMemo[tuple[str, str, int, int], str] = BoundedMemo(FORGOTTEN_ENDS)


def bound(p: Prospector) -> None:
    """Forget the tombstones past the bounds, the oldest first (a scan's end, after every match was
    made). One with the end of an unfinished line not shipped before a stop (Loose.unshipped) is kept:
    its loss is said when it is missing long enough."""
    tombs = [lo for lo in p.loose.values() if lo.gone_at is not None and not lo.unshipped]
    per_family, per_source = scan_rules.TOMBSTONES_PER_FAMILY, scan_rules.TOMBSTONES_PER_SOURCE
    p.tombstones_held = len(tombs)
    if len(tombs) <= per_source and max(Counter(lo.state.family for lo in tombs).values(), default=0) <= per_family:
        return  # (each scan: sorted only when one is to go)
    tombs.sort(key=lambda lo: lo.gone_at or 0.0)  # (stable: of one scan, in the order they were made)
    kept: dict[str, int] = {}
    newest_first: list[Loose] = []
    forget: list[Loose] = []
    for lo in reversed(tombs):
        n = kept.get(lo.state.family, 0)
        if n >= per_family:
            forget.append(lo)
        else:
            kept[lo.state.family] = n + 1
            newest_first.append(lo)
    forget.extend(newest_first[per_source:])
    for lo in forget:
        _forget(p, lo)
    p.tombstones_held -= len(forget)
    if forget:
        p.events.tombstones_forgotten(len(forget))
        if p.log.name not in _TOLD:
            _TOLD.add(p.log.name)
            p.log.info(f"{len(forget)} tombstones forgotten ({p.tombstones_held} kept): a content read to its end and gone is remembered at most "
                       f"{scan_rules.TOMBSTONE_SECONDS / 3600:g} h, and only the newest {per_family} of each family and "
                       f"{per_source} of the source, so that its compressed copy is recognised; said once "
                       "(shipper_file_tombstones_forgotten counts them)",
                       extra={"forgotten": len(forget), "kept": p.tombstones_held})


def _forget(p: Prospector, lo: Loose) -> None:
    s = lo.state
    p.forgotten.count += 1
    if s.gen < 0:
        p.forgotten.ids.remember(s.fid, True)
    if s.gone > p.forgotten.families.get(s.family, 0.0):
        p.forgotten.families.remember(s.family, s.gone)
    if s.head_len:
        p.forgotten.heads.remember((s.family, s.head, s.head_len), True)
    if s.head_len and s.offset > s.head_len and s.mark:  # (no more than a head proves nothing: a shared header)
        p.forgotten.ends.remember((s.family, s.head, s.head_len, s.offset), s.mark)
    p._forget(lo)  # (from memory and, with the next checkpoint, from the state_dir)


def end_of_forgotten(p: Prospector, o: Observed, lives: set[str]) -> int | None:
    """`o`, under a rotated name of the live families `lives`, about to be read as new from its start: does it hold
    exactly a content of its family read to its end before, whose tombstone was forgotten (a backup restored by `cp`
    or `mv`, plain or compressed, beside the backups or over one)? Its head, its length (a .gz's once complete) and the
    MARK_MAX bytes before its end are that content's, as a kept tombstone proves its copy (Matcher.mark_ok). Then its
    end: it is followed from there, nothing of it read again, and said at info. None otherwise (read from its start;
    a compressed one may still be named a possible repeat: copy_of_forgotten, head_of_forgotten). (Read again
    without a word, a plain restore shipped its 20 lines twice, and a .gz with a header every file of the family
    shares too: tests/tail/test_attack24_restored_plain_backup_forgotten_silent_repeat.py.)"""
    if not len(p.forgotten.ends):
        return None
    with p.fds.reading(o) as fh:
        if fh is None:
            return None
        size = p.matcher.readable_len(fh, o)
        head = head_of(fh.read(0, HEAD_MAX)) if size else None
        if not size or head is None or size <= len(head):
            return None
        hd = digest(head)
        marks = {p.forgotten.ends.get((live, hd, len(head), size)) for live in lives} - {None}
        if not marks:
            return None
        n = min(MARK_MAX, size)
        before = fh.read(size - n, n)
        if len(before) != n or digest(before) not in marks:
            return None
    p.log.info(f"{o.path} holds a content of its family read to its end before, whose tombstone was forgotten (its "
               "first line, its length and its last bytes are that content's: a backup restored): not read again",
               extra={"path": o.path, "offset": size})
    return size


def copy_of_forgotten(p: Prospector, o: Observed, lives: set[str]) -> bool:
    """`o`, a compressed file under a rotated name of the live families `lives`, about to be read as new
    from its start: when one of them had tombstones forgotten and its mtime is not later than the newest
    of them went (gzip keeps the mtime of what it compresses), it may be the copy of one, read to its end
    before: its lines are then shipped again. Said (a warning naming it), never silent."""
    went = max((p.forgotten.families.get(live, 0.0) for live in lives), default=0.0)
    if not went or o.st.st_mtime > went:
        return False
    _say(p, o.path)
    return True


def head_of_forgotten(p: Prospector, f: Identified, lives: set[str]) -> None:
    """`f`, a file read as new from its start under a rotated name that copy_of_forgotten did not name (plain, or
    compressed with a new mtime: a backup restored by a plain `cp`), now identified: when it starts as a forgotten tombstone of its family did, and
    no other content known of the family starts so (a CSV header every file has), it may be that content's copy.
    Said, never silent (a restored .gz 60 rotations old was shipped again without a word:
    tests/tail/test_attack21_restored_gz_forgotten_tombstone_silent_repeat.py)."""
    s = f.state
    if any(p.forgotten.heads.get((live, s.head, s.head_len)) for live in lives) and not p._head_shared(s):
        _say(p, f.path)


def _say(p: Prospector, path: str) -> None:
    p.log.warning(f"possible repeat: {path} is read from its start as a new file, and may be the compressed copy of "
                  "a content of its family read to its end before, whose tombstone was forgotten (more rotations "
                  f"than the {scan_rules.TOMBSTONES_PER_FAMILY} kept per family, or than the "
                  f"{scan_rules.TOMBSTONES_PER_SOURCE} per source): its lines may be shipped a second time",
                  extra={"path": path, "possible_repeat": True})
