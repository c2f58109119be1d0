"""At the first scan after a start: the files the run before held by itself (its holder's entries in the checkpoint,
held_record.py) that are gone now, named lost — a run killed while its holder held them (kill -9, a crash, the OOM
killer) named nothing, and the files were deleted before this start."""
from __future__ import annotations

import os
import zlib
from typing import TYPE_CHECKING, Any

from shipper.tail import birth, discovery
from shipper.tail.holder import generation
from shipper.tail.identity import MARK_MAX, digest
from shipper.tail.reader import OpenFile, is_gzip_path
from shipper.tail.state import FileState

if TYPE_CHECKING:
    from shipper.tail.prospector import Prospector


def name_gone_at_start(p: Prospector) -> None:
    """The first scan's: the entries the checkpoint has of what the run before held by itself (not those of this
    run's holder: one a reload handed over holds them still) named where their files are gone, and deleted (each
    start keeps at most what its own holder holds)."""
    before, p.held_before = p.held_before, {}
    if not before:
        return
    own = p.holder.record.keys() if p.holder is not None else set()
    if p.held_name:
        name_gone(p, {k: e for k, e in before.items() if k not in own})
    for k in before.keys() - own:
        p.pending[k] = None


def name_gone(p: Prospector, before: dict[str, dict[str, Any]]) -> None:
    """At the first scan after a start: `before`, the entries of the files the run before held by itself when it
    ended without a stop (held_before, less those the holder of this run records: one handed over by a reload).
    One still on disk under its family's folder (the same inode and generation) is found, and read, by the scans;
    one whose state the checkpoint has is the checkpoint's to name. The others were deleted unread, and what they
    held is lost unless it was read from another file: a held file may be a copy (copytruncate's, a .gz) of a
    content the checkpoint says was read, or on disk to be read now, or hold lines of one. The contents with its
    head (its first line: a header the family shares starts them all) may have been its origin: what of it lies past
    the furthest they were (or will be) read was read nowhere, and is named lost, "or more" (it may have grown after
    it was held) — unless a content of the family was cut in place (copytruncate): what was read of it before the
    cut is in no saved state. Not more: the rest may be lines read from that origin. Where nothing lies past them,
    or the file was empty, or a plain file may live on in a compressed file of its family made after it
    (logrotate's `compress`: read whole from its start by this run), nothing tells: a possible loss, warned, not
    counted — except a file its marks prove a copy of what was read (the same bytes before a saved read position):
    nothing lost, nothing said."""
    if not before:
        return
    # The saved contents, and how far each was or will be read: a file on disk now is read on to its end by this run
    # (a .gz not open yet, to an end not known).
    reach = [(lo.state, lo.state.offset) for lo in p.loose.values()]
    on_disk: dict[str, OpenFile] = {}  # fid -> its file, open: what it holds is there to compare
    for f in p.files.values():
        if f.state is not None:
            end = (f.fh.size() if f.fh is not None else 1 << 62) if f.gz else f.size
            reach.append((f.state, max(f.state.offset, end)))
            if f.fh is not None:
                on_disk[f.state.fid] = f.fh
    states = [s for s, _ in reach]
    known = {(s.dev, s.ino): s.gen for s in states}
    lost: dict[str, list[tuple[int, str]]] = {}  # family -> (bytes at least, name)
    maybe: dict[str, list[str]] = {}
    for e in before.values():
        try:
            judged = _judge(p, e, reach, known, states, on_disk)
        except (KeyError, TypeError, ValueError, AttributeError):
            continue  # (an entry damaged: nothing to compare it with)
        if judged is None:
            continue
        family, name, unread = judged
        if unread is None:
            maybe.setdefault(family, []).append(name)
        else:
            lost.setdefault(family, []).append((unread, name))
    for family, files in sorted(lost.items()):
        listed = ", ".join(name for _, name in files)
        p.ledger.lost(family, sum(n for n, _ in files),
                      f"were in {len(files)} rotated file(s) of it ({listed}) that the agent held open, unread, when it "
                      "ended without a stop (killed, or crashed), and that were deleted before this start",
                      unknown=True)
    for family, unsure in sorted(maybe.items()):
        p.log.warning(f"data possibly lost: an unknown number of bytes of {family}, in {len(unsure)} rotated file(s) of "
                      f"it ({', '.join(unsure)}) that the agent held open, unread, when it ended without a stop (killed, "
                      "or crashed), and that were deleted before this start: what they held past their first line may "
                      "be lines read from other files of it (nothing tells)", extra={"path": family})


def _judge(p: Prospector, e: dict[str, Any], reach: list[tuple[FileState, int]], known: dict[tuple[int, int], int],
           states: list[FileState], on_disk: dict[str, OpenFile]) -> tuple[str, str, int | None] | None:
    """One entry of name_gone's: (family, name, bytes lost at least), or None bytes for a possible loss; None when
    nothing is to be said (its file on disk, or known to the checkpoint, or not of this source)."""
    key = (int(e["dev"]), int(e["ino"]))
    gen = e.get("gen")
    if key in known and (known[key] in (-1, None) or gen is None or known[key] == gen):
        return None
    path, family = str(e.get("path", "")), str(e.get("family", ""))
    if not path or family not in p.families or _on_disk(key, gen, os.path.dirname(path)):
        # (A family this source follows no more, or at all: a checkpoint a renamed source left is not its own.)
        return None
    name = os.path.basename(path)
    head = e.get("head")
    length = int(e.get("length") or 0)
    marks = {int(o): str(m) for o, m in e.get("marks") or []}
    span = int(e.get("span") or 0)
    origins = [(s, end) for s, end in reach if s.family == family and head is not None
               and [s.head_len, s.head] == list(head) and _may_hold(s, marks, span)
               and _bytes_may_hold(s, on_disk.get(s.fid), marks, span)]
    copy = any(marks.get(s.offset) == s.mark and s.offset >= length for s, _ in origins if s.offset > s.head_len)
    live = path == family  # (held at its creation under the live name: written to after, maybe)
    unread = length - max((end for _, end in origins), default=0)
    fids = {s.fid for s in states}
    if head is None or unread <= 0 or any(s.after not in fids if s.after else s.cut for s in states if s.family == family):
        # (A content of the family cut in place and written again, the one cut away in no saved state (its state
        # kept, by its copy: its read reach is among the origins'): what was read of it is not known, and the held
        # file may be its copy.)
        return None if copy and not live else (family, name, None)
    if not is_gzip_path(path) and compressed_since(family, e.get("born")):
        return family, name, None
    return family, name, unread


def _may_hold(s: FileState, marks: dict[int, str], span: int) -> bool:
    """May the held file whose first line ends are `marks` (every one up to `span`, and its end) hold what was read of
    the content `s` (its head the same)? Not when a line end read of `s` within that span, or at a mark past it, is
    not one of them with the same bytes before it: the two part there. (What lies past the span is not known.)"""
    read = [(s.offset, s.mark)] + [(int(o), str(m)) for o, m in s.earlier or []]
    return all(marks.get(o) == m for o, m in read if s.head_len < o and (o <= span or o in marks))


def _bytes_may_hold(s: FileState, fh: OpenFile | None, marks: dict[int, str], span: int) -> bool:
    """May the content `s`, on disk and open as `fh` (read on to its end by this run: its reach), hold the held file
    whose first line ends are `marks` (every one up to `span`)? Not when its bytes before one of them hash otherwise:
    the two part there. Only while the file holds what was read of `s` (its bytes before the read offset as read): a
    file cut since and written again holds other bytes, and the held file may be a copy of the ones read. (Counted
    an origin by its size alone, a live file grown past the held one's length made every held file's loss "possible",
    not counted: torture seeds 610845, 611764.)"""
    if fh is None or not marks:
        return True
    upto = max((o for o in marks if o <= span), default=0)
    try:
        if not s.gz and s.offset > s.head_len:
            # (A .gz is never cut in place: gzip writes a new file.)
            before = fh.read(max(0, s.offset - MARK_MAX), min(MARK_MAX, s.offset))
            if digest(before) != s.mark:
                return True  # (cut and written again since: its bytes tell nothing of what was read)
        data = fh.read(0, upto)
    except (OSError, EOFError, zlib.error):
        return True
    return all(digest(data[max(0, o - MARK_MAX):o]) == m for o, m in marks.items() if o <= min(span, len(data)))


def _on_disk(key: tuple[int, int], gen: int | None, folder: str) -> bool:
    """Is the file `key` (of generation `gen`) under a name in `folder` still?"""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return True  # (not known: not named)
    for e in entries:
        try:
            if e.inode() != key[1]:
                continue
            fd = os.open(e.path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
        except OSError:
            continue
        try:
            st = os.fstat(fd)
            if (st.st_dev, st.st_ino) == key and (gen is None or generation(fd) in (None, gen)):
                return True
        finally:
            os.close(fd)
    return False


def compressed_since(family: str, born: int | None) -> bool:
    """Is there a compressed file of `family` made after the file born at `born` (None: not known)?"""
    folder, live = os.path.split(family)
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return True
    for e in entries:
        if not is_gzip_path(e.name) or not discovery.is_rotated_name(live, e.name):
            continue
        if born is None:
            return True
        b = birth.born(e.path, e.inode())
        if b is None or b >= born:
            return True
    return False
