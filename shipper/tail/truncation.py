"""Truncation: was the content under a followed file's read offset replaced (copytruncate, Log4j's
MaxBackupIndex=0, a writer that truncates and writes again): its size below the offset, or the bytes
before the offset changed. Then the content is detached from the inode, which restarts as a new file — unless what was read is
still in it: cut back to a prefix of it (read_prefix_end), its head blocks collapsed away (collapsed_by),
or written back edited (written_back): then it reads on from where what was read ends.
Functions over the Prospector (prospector.py, `p`): they work on its followed set and per-scan state.
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING

from shipper.tail import attention, birth, clock, discovery, edits
from shipper.tail.followed import ROTATED_AWAY, Followed, Identified, Loose, Observed
from shipper.tail.identity import MARK_MAX, digest

if TYPE_CHECKING:
    from shipper.tail.prospector import Prospector


def rewritten_unseen(p: Prospector, f: Followed) -> bool:
    """Was the live file `f`, read no further than its head, truncated and written again since
    the last scan, its bytes not showing it? An append-only file whose mtime moved has grown;
    one that has not grown was cut (copytruncate: the copy holds its head, or nothing more,
    and the truncated file got its header again, or stayed empty) — unless the watcher saw it
    touched and not written (touches.py). Further into a file, the bytes before the offset show
    a truncation (check_truncated)."""
    s = f.state
    if f.gz or f.deleted or f.unnamed or f.path != f.family or f.zeros:
        return False  # (f.zeros: a mapped file fills its zeros, it does not grow)
    if s is not None and (s.offset > s.head_len or s.cont):
        return False
    try:
        if f.fh is not None:
            st = f.fh.stat()
        else:
            # Closed (over the descriptor budget, or idle): looked at by its name, if that is still
            # its inode. (Told only while open, a closed live file emptied by copytruncate, its copy
            # empty, went unsaid: torture seed 1069.)
            st = os.stat(f.path)
            if (st.st_dev, st.st_ino) != (f.dev, f.ino):
                return False
            if s is None and f.born is not None and birth.born(f.path, st.st_ino) not in (None, f.born):
                return False  # another file given its inode (never opened: a rotation outran the scan), not cut
    except OSError:
        return False
    if st.st_mtime_ns == f.mtime_ns or st.st_size > f.seen_size:
        return False
    f.mtime_ns, f.seen_size, f.settled = st.st_mtime_ns, st.st_size, False  # (once)
    if p.touches.explains(f.path, st):  # touched, not written (inotify told: touches.py)
        if s is not None:
            s.mtime = st.st_mtime_ns  # (saved with its next checkpoint: Prospector._cut_while_away compares it)
        return False
    return True


def check_truncated(p: Prospector, f: Identified, size: int | None = None, force: bool = False,
                    mtime_ns: int = 0) -> bool:
    """Content replaced under our offset (copytruncate, Log4j MaxBackupIndex=0, a writer
    opening with O_TRUNC): the old content leaves the inode, which starts again as new.
    `size`: the file's size if the caller just took it (`mtime_ns` its mtime then, 0 if not
    taken). `force`: known replaced (rewritten_unseen)."""
    s = f.state
    if f.gz or f.overwritten:
        return False  # (overwritten: what it held unread was named; `shred -u` cuts it before removing it)
    if size is None:
        if f.fh is None:
            return False  # (closed: only a size just taken can show it cut)
        try:
            st = f.fh.stat()
        except OSError:
            return False
        size, mtime_ns = st.st_size, st.st_mtime_ns
    truncated = force or size < s.offset
    if not truncated and f.tail and f.fh is not None:
        n = len(f.tail)
        truncated = f.fh.read(s.offset - n, n) != f.tail
    elif not truncated and not s.offset and s.head_len and f.fh is not None:
        # Nothing read yet, so no bytes before the offset to compare: the head it was
        # identified by shows a file truncated and written again since (under a writer without
        # O_APPEND it starts with a hole now: read from 0 under the old state, a restart took
        # it for another file and read it again).
        truncated = not p.matcher.head_is(f.fh, s)
    if not truncated:
        return False
    if not force and f.fh is not None and p.harvester.overwritten_under(f, f.fh, size):
        return False  # (a backup overwritten in place, its size kept: `shred`; named, read to its end)
    _name_now(p, f)
    p.rotations += 1
    p.events.rotated()
    kept = 0 if force else read_prefix_end(p, f, size)
    collapsed = 0 if force or kept else collapsed_by(f, size)
    edit = written_back(f, kept, size) if kept else None
    placed, again = (0, 0) if force or kept or collapsed else edited_beyond_window(p, f, size)
    # Cut and written again beginning as what was read did, up to a spaced mark of it (FileState.spaced): an older
    # copy put over it in place (`cp` of last night's backup while the agent was stopped; read again unnamed before).
    restored = (0 if force or kept or collapsed or placed or again or edit is not None or f.fh is None
                else edits.proven_prefix(f.fh, size, s.spaced, s.head_len))
    if edit is not None:
        kept = edit.resume
        p.log.warning(f"{f.path} was written back in place edited (truncated and rewritten, as an editor saving "
                      f"into the same file does): bytes {edit.start} to {edit.old_end} of what was read were "
                      f"changed ({edit.says()}; bytes {edit.start} to {edit.new_end} of it now). Those lines were "
                      "shipped as first read; the edit is not shipped. Read on from byte "
                      f"{edit.resume}, where what was read ends in it",
                      extra={"path": f.path, "offset": edit.resume, "lines_removed": edit.removed,
                             "lines_altered": edit.altered, "lines_added": edit.added})
    elif collapsed:
        kept = s.offset - collapsed
        kept_head = f.fh is not None and p.matcher.head_is(f.fh, s)
        where = "within what was read, its head kept" if kept_head else "at its head"
        p.log.info(f"{f.path} was cut {where} in place by {collapsed} bytes (fallocate --collapse-range): what "
                      f"was read of it ends at byte {kept} now, nothing unread was removed: reading on from there",
                      extra={"path": f.path, "offset": s.offset, "size": size, "bytes_cut": collapsed})
    elif placed:
        kept = placed
        p.log.warning(f"{f.path} was edited in place further back than the last {len(f.window)} bytes read, which is "
                      "all of what was read that is kept to compare: what the edit changed cannot be told, and is not "
                      f"shipped. What was read (up to byte {s.offset}) ends at byte {placed} of it now, proven by the "
                      "bytes before that end, found once: read on from there",
                      extra={"path": f.path, "offset": placed, "was": s.offset})
    elif again:
        p.ledger.read_again(f.path, again, s.offset, "edited in place further back than the last bytes read that are "
                                                     "kept to compare")
    elif restored:
        more = min(size, s.offset) - restored
        p.ledger.repeated(f.path, restored, 0, f"it was cut in place and begins with the same bytes as what was read of "
                          f"it (of which {s.offset} bytes were read), which it does not hold all of: an older copy of it "
                          "written over it (`cp` from a backup?), or new lines beginning as it did. It is read from its "
                          "start, and the lines among those bytes that were shipped before are shipped again"
                          + (f"; so may the {more} bytes after them" if more > 0 else ""))
    elif kept:
        p.log.info(f"file cut back in place to {size} bytes, the first {kept} of them what was read of it: "
                      "reading on from there", extra={"path": f.path, "offset": s.offset, "size": size})
    else:
        p.log.info("file truncated: reading it again from its start",
                      extra={"path": f.path, "offset": s.offset, "size": size})
    window = f.window
    unnamed = _deleted_under_us(p, f)
    p._unfollow(f)  # the old content is looked for elsewhere (a copy) or reported lost
    lo = p.loose[s.fid]
    # (Cut at its head, edited, or read again: its inode holds what was read, nothing of it is lost.)
    lo.since, lo.truncated, lo.cut_to = clock.monotonic(), True, kept
    s.looked = 0  # (its cut is told here: not again as one above what was read, after a restart)
    lo.collapsed = collapsed or int(edit is not None or bool(placed) or bool(again))
    # The size the old content was last seen at: not when the cut was found by its bytes with the file no shorter than
    # what was read (a writer without O_APPEND writes on past a hole): the sizes seen may be the new content's, and a
    # copytruncate window was named "390060 bytes or more" for 0-20 lines lost (exam26c); then what was read is all
    # that is known.
    # The last look's size too: a file a busy writer grew while an output held the reader back was counted at the
    # size of a scan before the looks that saw it whole (13.2 MB cut away, 1.4 MB counted: exam29a).
    lo.window, lo.trunc_size = window, max(f.size, s.size, f.looked_size) if size < s.offset else s.offset
    lapse = p.lapses.since(f.looked_at, f.cut_looked_at)
    lo.unseen_writes = lapse or attention.written_just_before(f.looked_mtime_ns, mtime_ns)
    lo.unseen_in_lapse = bool(lapse)
    try:
        st = os.stat(f.path)
        if (st.st_dev, st.st_ino) == (f.dev, f.ino):
            # (Named after the content it held: the same offsets hold other lines now.)
            new = p._follow_new(Observed(f.path, f.family, True, st, False), kept, cut=True, after=s.fid)
            if new is not None:
                if kept and new.state is not None and new.state.offset != kept:
                    # (identify steps back to a line start: a cut inside a line already
                    # shipped leaves a piece of it, which is not shipped again.)
                    new.state.offset = kept
                    p._load_tail(new, new.state)
                    new.state.mark = digest(new.tail)
    except OSError:
        pass
    if unnamed is not None:
        # Deleted since it was cut: what was written to it after the cut is read through the descriptor kept, as a
        # new content of its inode (closed with the old one, it was lost named only as a copytruncate window: torture
        # seed 192233, 57 lines; tests/tail/test_truncated_then_deleted_read_through_descriptor.py).
        path = f.path + ROTATED_AWAY if f.path == f.family else f.path
        p._follow_new(Observed(path, f.family, True, os.fstat(unnamed), False, fd=unnamed), kept, cut=True,
                      after=s.fid)
    return True


def cut_back_unseen(p: Prospector, f: Identified) -> bool:
    """Was `f` written to and cut back in place to a size it had before, before any read could see what was written
    (lines appended then cut away by `truncate -s`, maybe its mtime set back with `touch -d`: lines hidden from an
    audit trail)? Its bytes cannot tell (what was read is all there, nothing after it), nor its size: a look found it
    as long as at the look before, its change time moved (which no call sets back), written to in between and — its
    mtime as it was — its times changed too (set back), by the watcher's events noted before that look (looks.stat).
    No read got past that size. A rename moves the change time alone, a chmod or a touch with an IN_ATTRIB alone: no
    cut. Said once (True), as the look finds it: a loss after a lapse of attention (counted; a hold in a hand-over that
    lasts as the look is taken is one: Lapses.holding), else a possible one (a `truncate -s` to the size it has moves
    the mtime too). A log of a header alone is rewritten_unseen's.
    (tests/tail/test_attack25_cut_back_mtime_restored_silent.py)"""
    s = f.state
    at, f.cut_back_at = f.cut_back_at, -1
    if at < 0 or f.gz or f.zeros or s.offset > at or s.offset <= s.head_len or not named_by(f):
        return False
    how = "its mtime set back to what it was (its change time moved)" if f.cut_back_restored else "its size as it was"
    lapse = p.lapses.since(f.looked_at) or p.lapses.holding()
    if lapse:
        p.ledger.lost(f.path, 0, f"written to it after byte {at} were cut away unread: the file was written to and cut "
                                 f"back in place to {at} bytes, {how}; {lapse}", unknown=True)
    else:
        p.log.warning(f"data possibly lost: an unknown number of bytes (possibly none) of {f.path} written after byte "
                      f"{at}: the file was written to and cut back in place to {at} bytes before it was read again, "
                      f"{how}; lines written to it meanwhile, if any, were cut away unread",
                      extra={"path": f.path, "size_known": False})
    return True


def named_by(f: Followed) -> bool:
    """Does `f`'s name still reach its inode? The watcher's events come by name: a log renamed away (a `create`
    rotation moves its change time) and a new file made at its name, chmodded and written (IN_ATTRIB, IN_MODIFY), are
    no cut of `f`."""
    try:
        st = os.stat(f.path)
    except OSError:
        return False
    return (st.st_dev, st.st_ino) == (f.dev, f.ino)


def _name_now(p: Prospector, f: Followed) -> None:
    """`f`, found cut through its descriptor, under the rotated name that holds it now, if a rotation renamed it since
    the last scan: the cut is named by the file's name at the cut. (Held back by a down output, the reader saw no
    rename: a backup emptied by an operator, `: > app.log.1`, was named app.log, the live file, and its lines counted
    lost there: tests/tail/test_attack24_truncated_unread_called_possibly_none.py.) The descriptor keeps its inode
    from being given to another file meanwhile."""
    key = (f.dev, f.ino)
    if f.fh is None or f.deleted or f.unnamed or p._named(f.path, key):
        return
    for path in discovery.rotated_siblings(f.family):
        if p._named(path, key):
            p._renamed(f, path)
            return


def _deleted_under_us(p: Prospector, f: Followed) -> int | None:
    """`f`, found cut, is deleted (no name reaches it): a copy of the descriptor that still reads it, closed with the
    scan's (Prospector._let_listed_go, which opens the file's own through it); None when it has a name, or none is
    open."""
    if f.fh is None or f.gz:
        return None
    try:
        if f.fh.stat().st_nlink:
            return None
        fd = os.dup(f.fh.fd)
    except OSError:
        return None
    p._listed_fds.add(fd)
    return fd


def read_prefix_end(p: Prospector, f: Followed, size: int) -> int:
    """The live file `f`, its bytes before the read offset changed, holds what was read of it
    up to where? (Cut back in place to a size — `truncate -s`, a tool trimming it to a size
    limit — and maybe written on since.) Its bytes compared with those kept in f.window: the
    whole file when they all agree, else the last line end where they still do. 0 when it is
    not proven past its head (another content: copytruncate, a writer with O_TRUNC; a shared
    header alone proves nothing) or the window does not reach back to it (a cut far behind
    the read offset, or after a restart: then it is read again from its start). A line
    written after the cut identical to the one it replaced cannot be told from it."""
    s = f.state
    if s is None or f.fh is None or not f.window:
        return 0
    first = s.offset - len(f.window)  # file offset of window[0]
    lo = max(first, 0)
    if size <= max(s.head_len, lo):
        return 0
    theirs = f.fh.read(lo, min(size, s.offset) - lo)
    ours = f.window[lo - first : lo - first + len(theirs)]
    common = len(os.path.commonprefix([theirs, ours]))  # (works on bytes: the agreeing start)
    if common == len(theirs) == size - lo:
        end = size
    else:
        end = lo + theirs.rfind(b"\n", 0, common) + 1
    if end <= max(s.head_len, lo) or end - lo < min(MARK_MAX, end):
        return 0
    if first > 0 and not p.matcher.head_is(f.fh, s):
        return 0
    return end


def written_back(f: Followed, kept: int, size: int) -> edits.Edit | None:
    """The live file `f`, cut back in place to `kept` bytes of what was read and written past them since:
    is it what was read, edited and written back into the same file (an editor truncating it and writing
    the text less a line; the writer appends after)? The bytes before the read offset found once past the
    cut prove it, as for an edited copy (edits.py, compared with the window). Read on from `kept` instead,
    every line after the change was shipped again without a word."""
    s = f.state
    if s is None or f.fh is None or size <= kept or kept >= s.offset:
        return None
    first = s.offset - len(f.window)
    if first > kept:
        return None
    edit = edits.edited_copy(edits.Remembered(f.fh, f.window, first), s.offset, s.head_len, f.fh, size)
    return edit if edit is not None and edit.resume > kept else None


def collapsed_by(f: Followed, size: int) -> int:
    """The live file `f`, its bytes before the read offset changed, still holds them some whole
    blocks nearer its start: by how many bytes? (`fallocate --collapse-range` drops a log's oldest
    blocks in place, ext4 and XFS: the bytes after the cut shift down by a multiple of the block
    size.) Proven by the bytes kept before the offset (the mark, and as much of the window as the
    file holds before the shifted offset) found there; 0 when they are not (then it is a truncation).
    A shift that leaves less than the mark before the offset proves nothing."""
    s = f.state
    if s is None or f.fh is None or not f.tail:
        return 0
    try:
        bs = os.fstatvfs(f.fh.fd).f_bsize
    except OSError:
        return 0
    if bs <= 0:
        return 0
    n = len(f.tail)
    ours = f.window if len(f.window) > n else f.tail  # (the window ends at the offset, as the mark)
    # The file held at least what was seen of it when cut; what it holds now past the shifted
    # offset was written since: the shift is no smaller than what it shrank by (tried first).
    least = max(f.size, f.seen_size, s.offset) - size
    for d in range(max(bs, -(-least // bs) * bs), s.offset - n + 1, bs):
        at = s.offset - d
        if f.fh.read(at - n, n) != f.tail:
            continue
        k = min(len(ours), at)
        if f.fh.read(at - k, k) == ours[len(ours) - k:]:
            return d
    return 0


def edited_beyond_window(p: Prospector, f: Followed, size: int) -> tuple[int, int]:
    """The live file `f`, its bytes before the read offset changed, and neither cut back to a prefix of what was
    read, nor cut at its head, nor written back within the window kept: edited further back than the window reaches
    (an editor's write-back of a long file)? (where what was read ends in it, 0) when the hash of the bytes before
    the read offset is found at one line end past its unchanged head (edits.place_by_mark); (0, bytes read again)
    when it is not, but the file still holds what was read up to an earlier read position (edits.proven_prefix):
    read again from its start, which is named; (0, 0) otherwise: another content (a truncation)."""
    s = f.state
    if s is None or f.fh is None or s.cont or not p.matcher.head_is(f.fh, s):
        return 0, 0
    placed = edits.place_by_mark(f.fh, size, s.offset, s.mark, True)
    if placed is not None:
        return placed, 0
    if edits.proven_prefix(f.fh, size, s.earlier, s.head_len):
        return 0, min(size, s.offset)
    return 0, 0


def edited_while_away(p: Prospector, lo: Loose, o: Observed) -> bool:
    """At a restart, the live file `o` on the inode the content `lo` was read from holds other bytes before the read
    offset: was it edited in place while the agent was stopped (an editor's write-back, `fallocate --collapse-range`)?
    Nothing of what was read is kept across a restart but hashes, so what the edit changed cannot be told; where what
    was read ends is proven by the hash of the bytes before the read offset found at one line end
    (edits.place_by_mark: past its unchanged head, or at a shift by whole blocks when its head was cut). Then the inode
    reads on from there as a new content and True. Not proven, but still holding what was read up to one of its
    earlier read positions, it is read again from its start (False) and that repeat is named: before, it was read
    again without a word and `lo` called lost. A content a stop with an output down left to be read again, edited
    before where the reading had got to, is reread_edited_while_away's."""
    s = lo.state
    if o.gz or s.gz or s.cont or lo.truncated or lo.collapsed or lo.gone_at is not None:
        return False
    if s.offset <= s.head_len:
        return reread_edited_while_away(p, lo, o)
    with p.fds.reading(o) as fh:
        if fh is None:
            return False
        if p.matcher.head_is(fh, s) and (moved := edits.reread_edited(fh, o.st.st_size, s)) is not None:
            return reread_edited_while_away(p, lo, o, moved)
        head_ok = p.matcher.head_is(fh, s)
        try:
            block = os.fstatvfs(fh.fd).f_bsize
        except OSError:
            block = 0
        size = o.st.st_size
        resume = edits.place_by_mark(fh, size, s.offset, s.mark, head_ok, block)
        again = 0 if resume is not None or not head_ok else edits.proven_prefix(fh, size, s.earlier, s.head_len)
    if resume is None:
        if again:
            lo.collapsed = 1  # (nothing of it lost: read again, and said)
            p.ledger.read_again(o.path, min(size, s.offset), s.offset, "edited in place while the agent was stopped")
        return False
    lo.collapsed = max(1, s.offset - resume)  # (forgotten without a loss: what was read is in it)
    p.log.warning(f"{o.path} was edited in place while the agent was stopped (written back by an editor, or cut at its "
                  f"head): what was read of it (up to byte {s.offset}) ends at byte {resume} of it now, proven by the "
                  "bytes before that end, found once. What the edit changed cannot be told (only hashes of what was "
                  "read are kept across a restart) and is not shipped: read on from there",
                  extra={"path": o.path, "offset": resume, "was": s.offset})
    p._follow_new(o, resume, cut=True, after=s.fid)
    return True


def reread_edited_while_away(p: Prospector, lo: Loose, o: Observed, moved: tuple[int, int] | None = None,
                             cut: bool = True) -> bool:
    """At a restart, `o` (the inode the content `lo` was read from, or the file renamed over its name: `cut` False)
    holds that content edited while the agent was stopped, before the end of what a stop with an output down had
    left to be read again (edits.reread_edited; `moved`: its answer if asked already). Then `o` is read again from
    where the content's checkpoint is in it, as a new content (its lines are at other positions: under the old file
    id, a moved line took the id of another, and an output that stored that other was not sent it), and the repeat
    for the outputs that stored those lines before the stop is warned and counted. True when `o` was followed so."""
    s = lo.state
    if moved is None:
        with p.fds.reading(o) as fh:
            if fh is None or not p.matcher.head_is(fh, s):
                return False
            size = p.matcher.readable_len(fh, o)
            moved = None if size is None else edits.reread_edited(fh, size, s)
    if moved is None:
        return False
    start, again = moved
    lo.collapsed = 1  # (forgotten without a loss: what was read of it is in `o`, read again)
    p.ledger.repeated(o.path, again, start, f"it was edited while the agent was stopped (`sed -i`, an editor), after a "
                      f"stop with an output down left what was read of it (up to byte {s.reread_to[0]}) to be read again "
                      "for the outputs that lacked it: the edit moved those lines, so the outputs that stored them "
                      "before the stop get them again (the note of what each output stored names their old positions)")
    p._follow_new(o, start, cut=cut, after=s.fid if cut else "")
    return True
