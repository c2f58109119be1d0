"""The copy proofs of a scan: is a file the prospector matched to no known content a copy of one it
knows (a copytruncate copy, a compressed or restored copy, the head of a live file copied before it
grew), to be left alone, or an edited copy renamed over the file it replaced (read on from where what was
read ends in it); and while a file is too short to tell, how long it waits (UNDECIDED_SECONDS)
before it is read as new. The byte-level comparisons are matching.py's; this module decides with them.
Functions over the Prospector (prospector.py, `p`): they work on its followed set and per-scan state.
"""
from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import TYPE_CHECKING

from shipper.tail import birth, discovery, edits, scan_rules, truncation
from shipper.tail.copy_events import CopyMade
from shipper.tail.followed import ROTATED_AWAY, Followed, Loose, MovedDuringScan, Observed, is_identified
from shipper.tail.holder import generation
from shipper.tail.identity import HEAD_MAX, MARK_MAX, digest, head_of, same_bytes
from shipper.tail.reader import OpenFile, is_gzip_path
from shipper.tail.state import WINDOW_COPY_PREFIX, FileState

if TYPE_CHECKING:
    from shipper.tail.prospector import Prospector

# What was read of a live file, no longer than this, may be a header of a few lines its writer writes at the start of
# each file (head_read). The longer, the more a `copy` rotation of a quiet log while the agent was stopped looks like
# a copytruncate of a header rewritten: nothing tells the two apart but the size.
HEADER_MAX = 4096
# ... and a header of no more than HEADER_LINES lines up to HEADER_LONG_MAX (a few long lines: a CSV's column line).
HEADER_LINES = 8
HEADER_LONG_MAX = 64 * 1024


def is_copy(p: Prospector, o: Observed, now: float) -> bool:
    """Is `o` (matched to no state) a copy of content we know, to be left alone? Only when
    the bytes prove it: it holds the same bytes as a followed file wherever both have data,
    past their first line (identity.same_bytes), or it holds what was read of a loose content
    (Matcher.holds_read). A file whose bytes differ is a new file, whatever its head. A file that
    matches a known head but is too short to tell (or a compressed file still being
    written) waits, at most UNDECIDED_SECONDS, then is read as new with a warning."""
    key = (o.st.st_dev, o.st.st_ino)
    if p.copies.get(key) == (o.st.st_size, o.st.st_mtime_ns):
        return True  # proven before and unchanged since: not compared again
    if not o.gz and not p.families.has_rotated_name_anywhere(o.path) and not o.path.endswith(ROTATED_AWAY):
        # Copies are made under rotated names, never as a live file. A .gz is never a live
        # file: matched by a glob of its own (logrotate `olddir`, `paths: [old/app.log*]`), it
        # is a backup all the same (tests/tail/test_attack3_olddir.py); so is a plain file
        # named as a backup of a followed file in another folder (an `olddir` filled by
        # `copy` or `renamecopy`: tests/tail/test_attack4_olddir_copy.py). So is a file the holder
        # caught at the live name and that is under it no more (ROTATED_AWAY): a sync tool's copy
        # renamed over the live file, replaced by the next pull while the reader was held back,
        # holds what the live file holds at the same place. (Read as new, every held copy was read
        # from its start: tests/tail/test_copies_renamed_over_while_held_back.py.)
        return False
    try:
        fh = p.fds.open_observed(o)
    except MovedDuringScan:
        # Renamed since the scan listed it (logrotate shifting backups): nothing is decided
        # from another file's bytes; the next scan finds it under its new name. (Held, if the
        # holder holds it, in case it is deleted meanwhile.)
        p.moved.add(key)
        return True
    except OSError:
        return False  # followed as a new file; its open failure is reported there
    try:
        head = head_of(fh.read(0, HEAD_MAX))
        if head is None:
            # A plain file without a complete line waits as a followed file; a compressed
            # one is still being written, or complete with no line (an empty log rotated
            # and compressed: logrotate's default `ifempty`), then no copy of anything.
            return o.gz and not fh.complete() and wait(p, key, o, "its own complete data", now)
        hd = digest(head)
        c = p.matcher.readable_len(fh, o)
        short_of = None
        other = False  # proven to hold bytes no known content has
        for f in list(p.files.values()):
            if f.state is None and (f.dev, f.ino) in p.files:
                # Written to since the last read: it may be the original. All of them before any is compared:
                # whether a first line is one the family's files share (Matcher.head_unique) depends on the heads
                # of all. (Identified in the comparing loop, the writer's next file, starting otherwise, came after
                # the one-line file it was compared for: the head taken for a shared one, the .gz was read again
                # from 0, "could not tell whether … is a copy": torture seed 185011.)
                p.identify(f)
        away = o.path.endswith(ROTATED_AWAY)
        for f in list(p.files.values()):
            s = f.state
            if s is None or s.head != hd or s.head_len != len(head) or f.gz and not o.gz:
                continue
            if away and s.family != o.family:
                # Caught at its live name and gone from it: a copy of its own family's live file (a sync tool's), never
                # of another log that begins with the same lines. (New files the holder held, deleted unread while
                # the output held the reader back, were taken for copies of a.log and never read, unnamed, where
                # found alive they were read as new: exam30a.)
                continue
            try:
                ours = p.fds.open(f)
                n = ours.size() if f.gz else ours.stat().st_size
            except OSError:
                if f.fh is None and (s.offset > s.head_len and p.matcher.mark_ok(fh, s)
                                     or c == s.offset == s.head_len and p.matcher.head_unique(s)):
                    # Closed (over the descriptor budget, or idle) and out of reach now (deleted,
                    # or renamed since): what was read of it proves a copy, as for a loose
                    # content — all of it when that was its first line only, one no other file of
                    # the family has. (The compressed form of a deleted file the budget had just
                    # closed was read again whole, as a new file: torture seeds 213, 186049.)
                    p.copies[key] = (o.st.st_size, o.st.st_mtime_ns)
                    p.undecided.pop(key, None)
                    return True
                if f.fh is None and (c is None or c == s.offset == s.head_len):
                    short_of = f.path  # (as for a loose content: it cannot be told yet)
                continue
            if c is None:
                short_of = f.path
                continue
            if c > n and not f.gz and (s.offset <= s.head_len or o.path.endswith(ROTATED_AWAY) or f.deleted):
                # Longer than f is now, and only f's head was read: a copy is never longer than
                # its original, so this is another file or a copy taken before f was truncated
                # and given its head again (invisible from the head alone). Either way it holds
                # bytes never read: not a copy. Nor is a file once live, or any file longer than f
                # deleted (no longer written: a sync tool's pull of a rotation replaced it and
                # brought its rotated form, grown: replaces_deleted): its bytes past f's end would
                # go unread. (tests/tail/test_rotation_pulled_by_sync.py: 20 lines, unnamed.)
                other = True
                continue
            if c > n and f.gz and ours.complete():
                # Longer than a whole compressed file: a copy of it would hold its bytes and no more. (Left
                # waiting as "too short to tell", the .gz of lines never read, beside a header-only .gz, waited
                # across restarts until it was deleted, unread and unnamed: torture seed 193030.)
                other = True
                continue
            n = min(n, c)
            if n <= len(head) and not (c == len(head) and p.matcher.head_unique(s)):
                short_of = f.path
            elif n <= len(head) or same_bytes(fh.read, ours.read, n):
                # (Holding no more than f's head, a first line no other file of the family
                # has: a copy of f, or of its start.)
                p.copies[key] = (o.st.st_size, o.st.st_mtime_ns)
                p.undecided.pop(key, None)  # proven now: no longer waiting (nor lost when it goes)
                return True
            elif f.fh is not None and is_identified(f) and truncation.check_truncated(p, f):
                # Truncated since step 1 looked (copytruncate, between the listing and now): its
                # content is loose now, compared below (and taken at the next scan). Compared with
                # what the file held after the cut, the copy was "another file" and read from 0:
                # every line read of the file twice (attack 6, under load).
                continue
            else:
                other = True
        for lo in p.loose.values():
            s = lo.state
            if s.head != hd or s.head_len != len(head):
                continue
            if lo.gone_at is None and p.matcher.reread_moved(fh, o, s):
                # (That content edited while the agent was stopped, after a stop with an output down, and rotated on:
                # no copy to leave alone, edited_copy_while_away reads it again and names the repeat. Left alone, the
                # lines it holds past the checkpoint never reached the output that lacked them.)
                continue
            if (s.offset > s.head_len and (p.matcher.mark_ok(fh, s) or p.matcher.prefix_end(fh, o, lo) is not None)
                    or c == s.head_len and s.offset >= s.head_len and p.matcher.head_unique(s)):
                # (Holding exactly the head of what was read, a first line no other file of
                # the family has: a copy of that content, or of its start.)
                p.copies[key] = (o.st.st_size, o.st.st_mtime_ns)
                p.undecided.pop(key, None)  # proven now: no longer waiting (nor lost when it goes)
                return True
            if (c is not None and s.head_len < c < s.offset and lo.gone_at is None
                    and edits.place_by_mark(fh, c, s.offset, s.mark, True) is not None):
                # (Shorter than what was read because edited, `sed -i` while the agent was stopped, and rotated
                # since: what was read ends at one line end of it. edited_copy_while_away places it; left waiting,
                # it was read whole after UNDECIDED_SECONDS, every line twice, and the content called lost.)
                continue
            if c is None or c == s.offset == s.head_len or (lo.gone_at is None and (
                    c <= s.head_len or c < s.offset and (s.path == s.family or lo.truncated))):
                # Cannot be compared with what was read of it. (Only a live file is copied
                # and then truncated: a file shorter than what was read of a rotated one is
                # no copy of it.) A file holding exactly the head that was all we read of a
                # content (gone or not: a restart forgets what was proven) is that content or
                # another with the same first line: it cannot be told.
                short_of = s.path
    finally:
        fh.close()
    if short_of is None:
        waited = p.undecided.pop(key, None)
        if waited is not None and not other:
            # It waited to be compared with a content that is gone now (called lost, or
            # forgotten): it can never be told apart; read as new, the possible repeat named.
            p.undecided_read += 1
            p.events.read_undecided()
            p.log.warning(f"could not tell whether {o.path} is a copy of {waited[2]} (it holds no more than "
                             "their shared first line, and that file is gone); read as a new file: if it is a "
                             "copy, its lines are repeated", extra={"path": o.path})
        return False
    p._undecided_head[key] = (hd, len(head))
    return wait(p, key, o, short_of, now)


def born_before(o: Observed, f: Followed) -> bool:
    """Was `o` born before the file `f` (both birth times known)? Then it is no copy of `f`, nor the compressed form
    of one (a copy, and its .gz, are made after the file they copy). (A `create` rotation's backup, older than the
    live file, was taken for its copytruncate copy, and a window named where no copytruncate ran: torture seed
    193115, found once the harness counted the windows named against the copytruncates.)"""
    o_born = o.born if o.born is not None else birth.born(o.path, o.st.st_ino)
    # (Its own, taken when it was found: its inode may hold another file now, born later; torture seed 193030.)
    f_born = f.born if f.born is not None or o_born is None else birth.born(f.path, f.ino)
    return o_born is not None and f_born is not None and o_born < f_born


def born_before_cut(p: Prospector, o: Observed, lo: Loose, obs: dict[tuple[int, int], Observed]) -> bool:
    """Was `o` born before the file the content `lo` was cut from in place (copytruncate: Loose.truncated), both
    birth times known? Then it is no copy of it: a copy is made from the file, after it. (Of several same-headed
    files that could hold a content of which only the head was read, the oldest was taken: a header-only backup a
    `create` rotation had renamed before the live file was born, while the real copy was named a later
    copytruncate's window, one window too many: torture seeds 192157, 192271.)"""
    s = lo.state
    key = (s.dev, s.ino)
    if not lo.truncated or key not in obs:
        return False
    f = p.files.get(key)
    # (Followed again on its inode, through the tailer's descriptor: a scan takes no birth time of a file held open.)
    where = f"/proc/self/fd/{f.fh.fd}" if f is not None and f.fh is not None else obs[key].path
    cut_born = birth.born(where, s.ino)
    o_born = o.born if o.born is not None else birth.born(o.path, o.st.st_ino)
    return cut_born is not None and o_born is not None and o_born < cut_born


def window_named_by(p: Prospector, copy: Observed) -> bool:
    """Was a copytruncate window named already with `copy` as its copy (at this scan or an earlier one)? Noted now
    if not. A copytruncate makes one copy, so a copy shows one window: found again by another proof (the holder's
    note, then the content found in it at the next cut; a grown head, then the content's head in it), it was named
    twice, a window too many (torture seeds 198076, 198159). Known by its inode and birth time (ext4
    gives a freed inode to the next file, another copy); where the file system keeps no birth time, never "named
    already": a real window is not to be left unsaid. Forgotten once the copy is listed no more
    (Prospector._window_copies); kept in the checkpoint till then, so that a restart does not name it again."""
    key = (copy.st.st_dev, copy.st.st_ino)
    born = copy.born
    if born is None:  # (held open, by the holder: its name may be gone or another file's)
        born = birth.born(copy.path if copy.fd is None else f"/proc/self/fd/{copy.fd}", copy.st.st_ino)
    if born is not None and p._window_copies.get(key) == born:
        return True
    p._window_copies[key] = born
    if born is not None:  # (in the checkpoint too: a restart names it no more)
        p.pending[window_copy_key(key)] = born
    return False


def window_copy_key(key: tuple[int, int]) -> str:
    """The checkpoint key of a copy a window was named with (state.WINDOW_COPY_PREFIX)."""
    return f"{WINDOW_COPY_PREFIX}{key[0]}:{key[1]}"


def copied_before_invisible_truncation(p: Prospector, o: Observed) -> bool:
    """`o`, new under a rotated name and no copy of anything known, starts with the head of
    the live file of its family, of which only that head was read: the live file was copied
    to `o` and truncated, then given its head again (a layout header) — a truncation its own
    bytes cannot show. What was read (the head) is in `o`: the content goes on there after
    the head, the live file starts again as new, and the copytruncate window is warned. (If
    instead `o` is another file with the same header, nothing is read twice either way.)"""
    if not p._is_rotated_name(o.path):
        return False
    for f in list(p.files.values()):
        s = f.state
        if f.path != f.family or f.family != o.family or f.gz or f.deleted:
            continue
        if s is None or s.offset == 0:  # (nothing read of it yet)
            if empty_copy_of_grown(p, f, o):
                return True
            copy_of_grown_empty(p, f, o)  # (read as a new file all the same: nothing of it was read)
            continue
        if s.offset != s.head_len or s.cont or not s.head_len:
            continue
        try:
            st = os.stat(f.path)
        except OSError:
            continue
        if (st.st_dev, st.st_ino) != (f.dev, f.ino):
            continue  # not the live file any more
        if born_before(o, f):
            continue  # (a file older than `f` is no copy of it: the live file before it, renamed by `create`)
        if (o.st.st_dev, o.st.st_ino) in p._waiting_before:
            # (Waiting to be told apart since an earlier scan, it was there when `f` held no more than its head: no
            # copy of a cut since. Taken for one once its wait was over, a backup made while the agent was frozen,
            # of lines it never read, named a window no copytruncate made: torture seed 300195.)
            continue
        with p.fds.reading(o) as fh:
            if fh is None:
                return False
            if not p.matcher.head_is(fh, s) or not fh.read(s.head_len, 1):
                continue
        p._unfollow(f)
        lo = p.loose[s.fid]
        p._attach(lo, o, s.offset)
        if not window_named_by(p, o):
            p.ledger.copytruncate_window(f.family, o.path, "found by the copy: the file had been read no further than "
                                                           "its first line, which it has again")
        p._follow_new(Observed(f.path, f.family, True, st, False), 0)
        return True
    return False


def grew_at_head(p: Prospector, f: Followed) -> bool:
    """The live file `f`, open, and nothing read of it yet or holding no more than its head at
    the last scan, has grown since (so truncation.rewritten_unseen cannot see a truncation by its mtime)."""
    s = f.state
    if f.fh is None or f.gz or f.deleted or f.unnamed or f.path != f.family:
        return False
    head_only = s is not None and head_read(s) and not s.cont and f.seen_size == s.offset
    if s is not None and s.offset and not head_only or f.start != 0:
        return False
    try:
        return f.fh.stat().st_size > f.seen_size
    except OSError:
        return False


def empty_copy_of_grown(p: Prospector, f: Followed, o: Observed) -> bool:
    """`o`, new and empty under a rotated name, beside the live file `f`, which was empty when
    last seen and has grown since (or the agent restarted since): copytruncate copied `f`
    empty and truncated it (`create` would have renamed `f` itself), and what was written
    between the copy and the truncation is in no file. (Not grown, truncation.rewritten_unseen sees it
    by its mtime; a restart forgets that.) Warned (the window), `o` kept as a proven copy."""
    key = (f.dev, f.ino)
    if p._grown_at_head.get(key) != 0 and not restored_empty_live(p, f):
        return False
    try:
        st = os.stat(f.path)
    except OSError:
        return False
    with p.fds.reading(o) as fh:
        if fh is None:
            return False
        empty = fh.complete() and fh.size() == 0 if o.gz else o.st.st_size == 0
        if (st.st_dev, st.st_ino) != (f.dev, f.ino) or not empty:
            return False
    if o.gz and empty_known(p, f) or born_before(o, f) or listed_before_the_stop(p, o):
        return False  # (the compressed form of that one: logrotate `ifempty` with `compress`; older than `f`)
    p.copies[(o.st.st_dev, o.st.st_ino)] = (o.st.st_size, o.st.st_mtime_ns)
    f.cut_seen = True
    if not window_named_by(p, o):
        p.ledger.copytruncate_window(f.family, o.path, "found by the copy, empty as the file was when last read")
    return True


def listed_before_the_stop(p: Prospector, o: Observed) -> bool:
    """At the first scan after a restart: was `o` there, empty, before the stop (the placeholder the last run saved
    of it, on its inode and generation)? Then it is no copy made while the agent was away, and what the last run
    saw of it is its say: a window of its making was named then or never was. (An empty .gz a `create` rotation
    made before the stop was taken at the restart for the copy of the live file, empty then, grown since: a window
    no copytruncate made, torture seed 192014.) Not where the file system keeps no generation: the inode may
    hold another file."""
    if not p.first_scan:
        return False
    lo = p.loose.get(f"i{o.st.st_dev}-{o.st.st_ino}")
    if lo is None or lo.state.head_len or lo.state.gen < 0:
        return False
    return p.matcher.gen_of(o) == lo.state.gen


def copy_of_grown_empty(p: Prospector, f: Followed, o: Observed) -> None:
    """`o`, new under a rotated name and holding bytes, beside the live file `f`, empty at the last scan and
    grown since, whose first bytes are not `o`'s: `f` was written, copied to `o` and truncated, then written
    again (copytruncate: `create` would have renamed `f` itself, and logrotate's `copy`, which does not truncate,
    leaves `o` a prefix of `f`). What was written between the copy and the truncation is in no file: warned and
    counted, naming both; `o` is read as a new file (nothing of it was read). (Unsaid, torture seed 180271.)"""
    if p._grown_at_head.get((f.dev, f.ino)) != 0 or born_before(o, f):
        return
    try:
        st = os.stat(f.path)
    except OSError:
        return
    if (st.st_dev, st.st_ino) != (f.dev, f.ino):
        # (Renamed away by a `create` rotation since: the files behind it were live after it, no copies of it. Taken
        # for one, the writer's next file, written and rotated on, named a window no copytruncate made: torture seed
        # 193237, once a file told cut was looked at again by grew_at_head.)
        return
    try:
        # (Closed since the scan began, over the descriptor budget by the files it opened to compare — followed
        # files with no identity yet, empty `.gz` backups —, it is opened again: left, the window went unsaid,
        # torture seed 185084.)
        live = p.fds.open(f)
    except OSError:
        return
    with p.fds.reading(o) as fh:
        n = min(HEAD_MAX, live.stat().st_size, p.matcher.readable_len(fh, o) or 0) if fh is not None else 0
        if fh is None or not n:
            return
        ours, theirs = live.read(0, n), fh.read(0, n)
    if ours[:1] == b"\0" or ours == theirs:
        return  # (a hole at its start is said where it is read; the same bytes: no truncation shows)
    f.cut_seen = True
    if not window_named_by(p, o):
        p.ledger.copytruncate_window(f.family, o.path, "found by the copy, holding what the file held after it was "
                                                       "last seen empty, which it holds no more")


def restored_empty_live(p: Prospector, f: Followed) -> bool:
    """At the first scan after a restart: is `f` the live file that was still empty when the agent
    stopped, and written or cut since? Its inode and, where the file system has them, its generation: the next
    live file on the same inode, freed while the agent was away, is another (the empty backup beside it was
    taken for a copytruncate copy, and lines rotated out unread named that window:
    test_lines_rotated_out_while_stopped_without_a_glob_are_not_called_a_copytruncate_window). Its mtime as the
    look that saved it took it, where known: unmoved, nothing was written to it nor cut since, so no window was
    made, and an empty .gz beside it is a `create` rotation's of the file before it (named a window, one no
    copytruncate made: torture seeds 197039, 197138)."""
    saved = p._restored_empty.get((f.dev, f.ino)) if p.first_scan else None
    if saved is None:
        return False
    gen, mtime = saved
    return (gen < 0 or f.gen < 0 or gen == f.gen) and not (mtime and f.mtime_ns == mtime)


def head_copy_of_grown(p: Prospector, o: Observed) -> bool:
    """`o`, new under a rotated name, holds exactly the head of the live file `f` of its family,
    which held no more than that head at the last scan and has grown since: copytruncate copied
    `f` then and truncated it, and the writer gave it its head again (a CSV or layout header)
    before this scan — a cut that neither its bytes nor its mtime show (`create` would have
    renamed `f` itself). What was written between the copy and the truncation is in no file:
    warned and counted, naming both (`o` is kept as a proven copy: all it holds was read; `f` is
    read on). Proven "a copy of f's head" by is_copy instead, the window went unsaid. The same at
    the first scan after a restart for a live file no longer than its head whose mtime moved while
    the agent was away (Prospector._cut_while_away): the copy is what tells that cut from a touch."""
    key = (o.st.st_dev, o.st.st_ino)
    if key in p.copies or key in p._waiting_before or not p._is_rotated_name(o.path):
        # (Waiting to be told apart since an earlier scan, it was there when `f` last held no more than its head:
        # a cut it shows came before that look, whose say it was, and `f` has only grown since. Named here, the
        # header-only .gz of a `create` rotation, deleted since and held by the holder, was a window no
        # copytruncate made: torture seed 197162.)
        return False
    for f in list(p.files.values()):
        s = f.state
        if (s is None or not s.head_len or f.path != f.family or f.family != o.family or f.gz or f.deleted
                or (f.dev, f.ino) in p._head_copy_told
                or not (grown_from_head(p, f) or (f.dev, f.ino) in p._head_moved_away)):
            continue  # (one cut a scan: each header-only backup beside it was named another window, torture seed 192136)
        try:
            st = os.stat(f.path)
        except OSError:
            return False
        with p.fds.reading(o) as fh:
            if fh is None:
                return False  # (renamed since the listing: is_copy says so; decided at the next scan)
            # (All that was read may be a header of a few lines: the copy holds them all. While running, a scan between
            # the copy and the cut may see that copy too: the cut is then the same window, told by the copy's length,
            # FileState.head_window; a bool, it named it a second time, torture seeds 300009, 300247.)
            read = s.offset if head_read(s) else s.head_len
            if (st.st_dev, st.st_ino) != (f.dev, f.ino) or p.matcher.readable_len(fh, o) != read \
                    or not p.matcher.head_is(fh, s) or read > s.head_len and not _marks_hold(p, fh, s):
                continue
        if born_before(o, f):
            continue
        p.copies[key] = (o.st.st_size, o.st.st_mtime_ns)
        p._head_copy_told.add((f.dev, f.ino))
        s.head_window = read
        p.pending[s.key] = s
        if not window_named_by(p, o):
            held = "first line" if s.offset <= s.head_len else f"first {s.offset} bytes (all that was read of it)"
            p.ledger.copytruncate_window(f.family, o.path, f"found by the copy, holding no more than the {held} "
                                                           "the file held when last looked at, which it has again")
        return True
    return False


def head_read(s: FileState) -> bool:
    """Was all that was read of `s` its head, or a header of a few lines (no longer than HEADER_MAX: a W3C
    `#Version`/`#Fields` pair, a banner above a CSV header)? Its head, read mark and earlier marks (_marks_hold) then
    prove a copy holding exactly that many bytes a copy of what was read. (At most MARK_MAX, a banner above a
    26-field CSV column line, 293 bytes, was still unnamed: exam29b; at most HEAD_MAX, 1 KiB, a banner above an
    80-column CSV line or Log4j's HTMLLayout head: exam30b's
    tests/tail/test_attack30_header_over_1k_copytruncate_while_stopped_unnamed.py.) (Its head alone, a two-line header
    copytruncated while the agent was stopped and written again went unnamed: exam29b's
    tests/tail/test_attack29_two_line_header_copytruncate_while_stopped_unnamed.py.)"""
    if not s.head_len or s.offset < s.head_len:
        return False
    if s.offset <= HEADER_MAX:
        return True
    # (Longer, a few long lines: an 80-column CSV line past 4 KiB, exam30b. Counted by the line ends read past the
    # head, FileState.earlier, which keeps each of them while there are fewer than EARLIER_MARKS / 2.)
    past = [at for at, _ in s.earlier if s.head_len < at < s.offset]
    return s.offset <= HEADER_LONG_MAX and len(past) <= HEADER_LINES - 2


def _marks_hold(p: Prospector, fh: OpenFile, s: FileState) -> bool:
    """Does `fh` hold the bytes before `s`'s read offset and before each earlier read position it keeps past its
    head (FileState.earlier: the line ends read)? For a header of a few lines they cover what was read."""
    if not p.matcher.mark_ok(fh, s):
        return False
    for at, mark in s.earlier or []:
        n = min(MARK_MAX, at)
        if s.head_len < at < s.offset and digest(fh.read(at - n, n)) != mark:
            return False
    return True


def grown_from_head(p: Prospector, f: Followed) -> bool:
    """Has the live file `f`, which held no more than its head when last looked at, grown since? Taken as the
    scan began (_grown_at_head); at the first scan after a restart, from its saved state: read to its head, all
    it held then, and on the same inode longer now. (Without it, a copytruncate window of such a file before a
    kill -9 went unsaid: torture seed 170224, tests/tail/test_copytruncate_head_only_grown_restart.py.)"""
    s = f.state
    if s is None:
        return False
    if p.first_scan:
        return head_read(s) and not s.cont and s.size <= s.offset < f.seen_size
    return head_read(s) and p._grown_at_head.get((f.dev, f.ino)) == s.offset


def later_copy_of_cut(p: Prospector, o: Observed, obs: dict[tuple[int, int], Observed]) -> None:
    """`o`, new under a rotated name and read as a new file, in a family whose live file was
    found truncated in place at this scan with what was read of it in a copy (copytruncate:
    gone.copytruncate_loss warned that copy's window). Made after that copy, `o` is the copy of
    a later copytruncate rotation (each copies the live file to a new inode and truncates it in
    place; the older copy shifted on first): that rotation has its own window, whose lines are
    in no file. Warned and counted the same way, naming `o`. (Two rotations while the agent was
    stopped: only the older window was warned, the newer one lost unnamed:
    tests/tail/test_attack14_copytruncates_while_stopped.py.) Not the file found cut itself, nor a file
    rotated in after it when it has left the live name since (a `create` rotation renamed it: the files
    behind it were live after it, no copies of it; named as copies, windows no copytruncate made: torture
    seeds 192061, 192087, found once the harness counted the windows named against the copytruncates).
    `o` is a rotated name of the family beside it or beside that copy: logrotate `olddir` makes every
    backup in the other folder (looked for beside the live file only, the second window went unnamed:
    tests/tail/test_attack18_copytruncate_olddir_windows_while_stopped.py)."""
    if (o.st.st_dev, o.st.st_ino) in p._cut_files:
        return
    folder, name = os.path.split(o.path)
    for family, copy in sorted(p._cut_copied.items()):
        if (folder not in (os.path.dirname(family), os.path.dirname(copy.path))
                or not discovery.is_rotated_name(os.path.basename(family), name) or _age(o) <= _age(copy)):
            continue
        # (As listed too: renamed since by a rotation that overtook the scan, its name now is one step on from the
        # cut file's listed name. The live file behind the cut one, renamed so, was named a later copytruncate's
        # window: torture seed 300051.)
        listed = obs.get((o.st.st_dev, o.st.st_ino), o)
        if any(_rotated_in_after(x, obs.get(key)) for key, fam in p._cut_files.items() if fam == family
               for x in (o, listed)):
            continue
        named = p._later_copies.setdefault(family, [])
        if any(_compressed_form(p, o, other) for other in named):
            return  # (its window is named with that copy)
        named.append(o)
        if window_named_by(p, o):
            return
        p.ledger.lost(family, 0, f"were written between the copy to {o.path} and the truncation of the file (a "
                                 f"copytruncate rotation after the one that copied it to {copy.path}; copytruncate "
                                 "rotation loses what is written in that window; rotate with `create` and have the "
                                 "writer reopen its file to lose nothing)", unknown=True)
        return


def _compressed_form(p: Prospector, a: Observed, b: Observed) -> bool:
    """Is one of `a` and `b` the other compressed: a .gz born after a plain file deleted since (held open by the holder),
    holding its bytes? Then they are one copy (logrotate `compress` or `delaycompress` compressed it and deleted it).
    (A copytruncate's copy, held, and its .gz were named two later windows: torture seed 400098.)"""
    gz, plain = (a, b) if a.gz else (b, a)
    if not gz.gz or plain.gz or plain.st.st_nlink:
        return False
    gz_born = gz.born if gz.born is not None else birth.born(gz.path, gz.st.st_ino)
    if gz_born is not None and plain.born is not None and gz_born < plain.born:
        return False
    with p.fds.reading(gz) as zh:
        if zh is None or not zh.complete() or zh.size() != plain.st.st_size:
            return False
        if not plain.st.st_size:
            return True
        with p.fds.reading(plain) as ph:
            return ph is not None and same_bytes(zh.read, ph.read, plain.st.st_size)


def _rotated_in_after(o: Observed, cut: Observed | None) -> bool:
    """Was `o` rotated in behind the file found cut (`cut`: it as listed now, None: not listed), so no copy of it?
    copytruncate leaves the file it cuts at the live name: one deleted since, or under a rotated name older than
    `o`'s, was renamed by a `create` rotation, and the files behind it were live after it. (Deleted, but listed
    because the holder holds it, it is deleted all the same: taken for still at its name, the `create` rotation's
    backup behind it was named a later copytruncate's window, torture seed 197002.)"""
    if cut is None or cut.st.st_nlink == 0:
        return True
    index, cut_index = _rotation_index(o.path), _rotation_index(cut.path) if cut.path != cut.family else None
    if o.path == o.family:
        return cut_index is not None  # (live while the cut file was under a rotated name)
    return index is not None and cut_index is not None and index < cut_index


def copy_before_rotated_on(p: Prospector, o: Observed) -> None:
    """`o`, new under a rotated name and read as a new file, beside a followed file `f` of its family that was
    the live file at the last look, read no further than its head, and is under a newer rotated name now (renamed
    by a rotation; its own inode still). A rotation by renaming keeps the older file under the older name: `o`,
    born after `f` and behind it, was made by copying under a rotated name while `f` was live (copytruncate), and
    was last written before `f` was. (Log4j 2's fileIndex="max" puts the next live file, born later, under a
    larger number too; but that one was written after `f`.) Holding `f`'s head and then bytes `f` no longer holds
    at those offsets, `o` is a copy of `f` made before `f` was truncated: what was written between the copy and
    the truncation is in no file. Warned and counted, naming both; both are read as they are (nothing of `o` was
    read; `f` reads on after its head). (Unsaid, torture seed 185102: copied and cut twice, then rotated on,
    between two looks.) Not a `.gz` (made at compression, after the files beside it), nor where the file
    system keeps no birth time."""
    for f, s, st in _rotated_on_before(p, o):
        n = min(HEAD_MAX, o.st.st_size, st.st_size) - s.head_len
        if n <= 0:
            continue
        with p.fds.reading(o) as fh:
            if fh is None or not p.matcher.head_is(fh, s):
                continue
            theirs = fh.read(s.head_len, n)
        try:
            ours = p.fds.open(f).read(s.head_len, n)
        except OSError:
            continue
        if ours == theirs:
            continue  # (the same bytes: `copy` without truncation, or nothing shows a cut)
        f.cut_seen = True
        if not window_named_by(p, o):
            p.ledger.copytruncate_window(f.family, o.path, "found by the copy, made while the file was live after it "
                                                           "was last looked at and rotated behind it since", cut=f.path)
        return


def head_copy_rotated_on(p: Prospector, o: Observed) -> bool:
    """copy_before_rotated_on's copy holding exactly the head of `f`, which holds more now: copied when it held no
    more, then cut and given its head again (or written on: logrotate `copy`), and rotated on since. Taken as
    copytruncate's, a window that may be empty, as head_copy_of_grown takes such a copy beside the live file; `o`
    is kept as a proven copy (all it holds was read). Looked at before `o` waits to be told apart (too short to
    tell), at the scan that finds `f` renamed. (Unsaid, a line of the window was lost: torture seed 300077, `make
    torture SEED=300000`, a header-only file copytruncated, written and rotated on while the agent was stopped.)"""
    key = (o.st.st_dev, o.st.st_ino)
    if key in p.copies:
        return False
    for f, s, st in _rotated_on_before(p, o):
        if not o.st.st_size == s.head_len < st.st_size:
            continue
        with p.fds.reading(o) as fh:
            if fh is None or p.matcher.readable_len(fh, o) != s.head_len or not p.matcher.head_is(fh, s):
                continue
        p.copies[key] = (o.st.st_size, o.st.st_mtime_ns)
        f.cut_seen = True
        if not window_named_by(p, o):
            p.ledger.copytruncate_window(f.family, o.path, "found by the copy, holding no more than the first line "
                                                           "the file held when it was live and last looked at, made "
                                                           "then and rotated behind it since", cut=f.path)
        return True
    return False


def _rotated_on_before(p: Prospector, o: Observed) -> Iterator[tuple[Followed, FileState, os.stat_result]]:
    """The followed files `f` (their state and stat) of `o`'s family that were the live file at the last look, read
    no further than their head, and are under a newer rotated name than `o` now, on their own inode, born before `o`
    and last written after it: `o` was copied from `f` while `f` was live (copy_before_rotated_on). `o` plain, under
    a rotated name, its birth time known."""
    if o.gz or not p._is_rotated_name(o.path):
        return
    o_born = o.born if o.born is not None else birth.born(o.path, o.st.st_ino)
    o_index = _rotation_index(o.path)
    if o_born is None or o_index is None:
        return
    for key in sorted(p._left_live):
        f = p.files.get(key)
        if f is None or not is_identified(f) or f.gz or f.deleted or f.family != o.family:
            continue
        s = f.state
        f_index = _rotation_index(f.path)
        if not s.head_len or s.offset != s.head_len or s.cont or f_index is None or f_index >= o_index:
            continue
        try:
            st = os.stat(f.path)
        except OSError:
            continue
        f_born = birth.born(f.path, f.ino)
        if (st.st_dev, st.st_ino) != key or f_born is None or f_born >= o_born or o.st.st_mtime_ns >= st.st_mtime_ns:
            continue
        yield f, s, st


def copy_of_unread_live(p: Prospector, made: list[CopyMade], obs: dict[tuple[int, int], Observed]) -> None:
    """The copies the holder saw made (copy_events.py: a plain file created under a rotated name while it had
    the file `L` at the live name) of a live file of which the tailer has read no more than its head: made,
    written, copied and cut between two scans (or before the scan that first met `L`), nothing the tailer read of
    `L` shows the cut. The bytes do: a copy that is no prefix of `L` now (longer than `L`, or other bytes) was
    made before `L` was truncated. A copy holding no more than its first line (or empty) is a prefix of `L`
    either way: `L` was cut and given its first line again (a layout header), or not cut (logrotate `copy`);
    taken as copytruncate's, as head_copy_of_grown takes it, unless `L` is as the holder met it (its size and
    mtime). A copy holding more that is a prefix of `L` is `copy`'s: no window. The window is warned and counted,
    naming both; both are read as they are (nothing of the copy was read, no more than the head of `L`). (Unsaid,
    torture seeds 192000, 192006, 192110: `L` only the holder had met at the copy.) Not when the cut was told
    already (Followed.cut_seen; its content found truncated at this scan), nor of an `L` read past its head: what
    was read of it shows a cut (check_truncated and the proofs above)."""
    p._cut_told = {k for k in p._cut_told if k in obs and k not in p.files}  # (told, not followed yet)
    for c in made:
        live_key, copy_key = c.live.ident[:2], c.copy[:2]
        lo, co = obs.get(live_key), obs.get(copy_key)
        f = p.files.get(live_key)
        if f is not None and f.state is not None and c.live.ident[2] not in (None, f.state.gen) and f.state.gen >= 0:
            f = None  # (another file that had its inode, gone)
        if lo is None or co is None or lo.gz or f is not None and (
                f.cut_seen or f.gz or f.state is not None and (f.state.offset > f.state.head_len or f.state.cont)):
            continue
        if any(x.truncated or x.regrown or x.state.offset > x.state.head_len or x.state.cont for x in p.loose.values()
               if (x.state.dev, x.state.ino) == live_key and x.state.gen in (-1, c.live.ident[2])):
            # (Its cut found at this scan, and named where its content is found or not. Or read past its head, not
            # followed again yet (the first scan of a restart, a reload's: then the bytes before its read offset show a
            # cut, as for `L` followed. Taken for unread, a copy of a backup made just before a reload that widened
            # `paths` to the backups named a window on a live file never cut: tests/tail/
            # test_attack24_reload_widened_glob_backup_copy_false_loss.py.)
            continue
        # (Followed, through the tailer's descriptor: renamed since the listing, its name holds another file.)
        ours = nullcontext(f.fh) if f is not None and f.fh is not None else _held_or_listed(p, lo)
        with ours as live, p.fds.reading(co) as copy:
            if live is None or copy is None or not _is(live, c.live.ident) or not _is(copy, c.copy):
                continue
            n = p.matcher.readable_len(copy, co)
            if n is None and co.gz and copy.size() == 0 and copy.complete():
                n = 0  # (the copy of an empty file, compressed: complete, and empty; torture seed 207154)
            if n is None:
                continue
            st = live.stat()
            prefix = n <= st.st_size and same_bytes(copy.read, live.read, n)
            head = head_of(copy.read(0, HEAD_MAX)) or b""
            if prefix and (n > len(head) or (st.st_size, st.st_mtime_ns) == (c.live.size, c.live.mtime_ns)):
                continue
        if f is None:
            p._cut_told.add(live_key)
        else:
            f.cut_seen = True
            p._grown_at_head.pop(live_key, None)  # (head_copy_of_grown would name it again)
        # What was read of `L` (its head) is in this copy: its content, found cut, is looked for here first. (Given
        # to the oldest same-headed file, the .gz of a `create` rotation born after `L`, it named that one's
        # window a second time: torture seed 197191.)
        p._copy_made_of[live_key] = copy_key
        if window_named_by(p, co):
            continue
        p.ledger.copytruncate_window(c.family, co.path, "found by the copy, made while the file was live, of which "
                                     "the agent had read no more than its first line" + ("" if prefix else ", and "
                                     "holding what the file holds no more"), cut=lo.path)


@contextmanager
def _held_or_listed(p: Prospector, o: Observed) -> Iterator[OpenFile | None]:
    """`o` opened as listed, or, renamed since (a rotation overtook the scan: its name holds another file), under the
    rotated name it has now: the live file the holder met is compared with its copy all the same. (Left, the window of
    a live file renamed during the scan went unsaid: torture seeds 194010, 194143.)"""
    with p.fds.reading(o) as fh:
        if fh is not None:
            yield fh
            return
    found = p._renamed_since_listed(o)
    if found is None:
        yield None
        return
    with p.fds.reading(found) as fh:
        yield fh


def _is(fh: OpenFile, ident: tuple[int, int, int | None]) -> bool:
    """Is `fh` the file `ident` (device, inode, generation: a freed inode given to another file is not)?"""
    gen = generation(fh.fd)
    return (fh.dev, fh.ino) == ident[:2] and None in (gen, ident[2]) or (fh.dev, fh.ino, gen) == ident


def _rotation_index(path: str) -> int | None:
    """The number a rotated name ends with (app.log.3, app.log.3.gz: 3); None for none."""
    digits = re.search(r"\.(\d+)(?:\.gz)?$", path)
    return int(digits.group(1)) if digits else None


def empty_known(p: Prospector, live: Followed) -> bool:
    """Is another plain file of `live`'s family known that was empty when last seen (an empty .gz
    may be made from it)? (Not an empty .gz: a .gz is not compressed again. Taken for one, an empty
    .gz gone since hid the copytruncate window of an empty live file: torture seed 191216.)"""
    if live.family in p._emptied:  # (deleted at this scan)
        return True
    if any(x is not live and x.family == live.family and x.state is None and not x.seen_size and not x.gz
           for x in p.files.values()):
        return True
    return any(lo.state.family == live.family and not (lo.state.head_len or lo.state.size or lo.state.gz)
               for lo in p.loose.values())


def replaces_deleted(p: Prospector, o: Observed) -> bool:
    """`o`, new under the name of a followed file just deleted, holds what was read of it: a copy
    of it, written whole and renamed over it (rsync, rclone, azcopy keep a synced file so). The
    content goes on in `o` from where it was read (read again from its start, every line was
    shipped twice, silently). So too under a rotated name of its family: a pull of a rotation
    brings the rotated file, grown, and replaces the live one with the remote's next file (left
    alone as a copy, the lines past what was read were never read: is_copy). So too for a followed
    file under no name any more, not deleted: its folder mounted again from a copy on another device
    (the old file system unmounted lazily, the file still open; other_device.py says it). True when `o`
    took it."""
    if o.gz:
        return False
    # The largest first: of two files replaced in turn at the name, still followed (the older read on to its end
    # through its descriptor), `o` replaced the newer one, which holds all the older one held and more. (Taken
    # for the older, `o` was read on from where the older was read, the newer one's lines read twice.)
    for f in sorted(p.files.values(), key=lambda x: (-_size(x), -(x.state.offset if x.state is not None else 0))):
        s = f.state
        if (not (f.deleted or f.deleted_open() or f.unnamed and f.path == o.path)
                or f.path != o.path and not (f.path == f.family and discovery.is_rotated_path(f.family, o.path))
                or f.gz or s is None or s.offset <= s.head_len):
            continue
        lo = Loose(s)
        try:
            resume = p.matcher.holds_read(lo, o)
        except MovedDuringScan:
            continue
        if resume is None or resume < s.offset or not holds_all_of_old(p, f, o):
            continue
        p._unfollow(f)
        p._attach(p.loose[s.fid], o, resume)
        if o.path == f.path and o.st.st_dev == f.dev:  # (on another device, other_device said it)
            p.log.info(f"{o.path} was replaced by a copy of itself holding what was read (a sync tool's rename "
                       "over it): read on from there", extra={"path": o.path, "offset": resume})
        elif o.path != f.path:
            p.log.info(f"{f.path} was replaced, and {o.path} is a copy of it holding what was read and more (a sync "
                       "tool's pull of a rotation): read on from there", extra={"path": o.path, "offset": resume})
        return True
    return False


def _size(f: Followed) -> int:
    """The size of followed file `f` now, as far as it can be known (its descriptor's, else its last look's)."""
    if f.fh is not None:
        try:
            return f.fh.stat().st_size
        except OSError:
            pass
    return f.size


def holds_all_of_old(p: Prospector, f: Followed, o: Observed) -> bool:
    """Does `o` hold all the deleted file `f` holds past what was read (when the agent still holds `f` open)? Not so,
    `f` was edited where it was not read yet, or written to after it was copied (`sed -i` while its writer appends):
    edited_copy's, which reads `f` to its end (taken here, `f` was let go with those lines)."""
    if f.fh is None or f.state is None:
        return True
    at = f.state.offset
    try:
        left = f.fh.stat().st_size - at
    except OSError:
        return True
    with p.fds.reading(o) as new:
        return new is None or edits.common_prefix(f.fh, new, left, at, at) == left


def whole_copy(fd: int, family: str, size: int) -> str | None:
    """At a stop: the deleted file open at `fd` (of `family`, `size` bytes), about to be let go with bytes not read
    yet: does a file of its family hold all of it (logrotate or Log4j 2 `compress` made a .gz of it, then deleted
    it)? Its path if so: the next start finds that copy by what was read of it and reads it on from there, so nothing
    of it is lost. (Called lost, the stop named every unread byte of it: 12.9 MB of a .gz read on whole at the next
    start.) Proven as a copy is (identity.same_bytes: the first and last bytes) and of the same length, the newest
    first; None when none is, or the file is over edits.FIND_MAX (a .gz is decompressed to its end to compare)."""
    if size <= 0 or size > edits.FIND_MAX:
        return None
    folder = os.path.dirname(family)
    try:
        names = os.listdir(folder)
    except OSError:
        return None
    found = []
    for name in names:
        path = os.path.join(folder, name)
        if not (discovery.is_rotated_path(family, path) or name == os.path.basename(family) + ".gz"):
            continue
        try:
            st = os.stat(path)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode):
            found.append((st.st_mtime_ns, path))
    for _, path in sorted(found, reverse=True):
        gz = is_gzip_path(path)
        try:
            theirs = OpenFile(path, gz)
        except OSError:
            continue
        try:
            if theirs.size() != (size & 0xFFFFFFFF if gz else size):
                continue  # (a gzip file's trailer holds its length modulo 2^32)
            if same_bytes(lambda at, n: os.pread(fd, n, at), theirs.read, size) and theirs.read(size, 1) == b"":
                return path
        except OSError:
            continue
        finally:
            theirs.close()
    return None


def _age(o: Observed) -> tuple[int, int]:
    """Sorts files by when they were last written: by mtime, then by a larger rotation number
    (app.log.2 before app.log.1)."""
    digits = re.search(r"(\d+)(?:\.gz)?$", o.path)
    return o.st.st_mtime_ns, -int(digits.group(1)) if digits else 0


def oldest(files: list[Observed]) -> Observed | None:
    """The one file of `files` last written before all the others (see _age); None when none
    is, or `files` is empty."""
    ranked = sorted(files, key=_age)
    if not ranked or len(ranked) > 1 and _age(ranked[0]) == _age(ranked[1]):
        return None
    return ranked[0]


def wait(p: Prospector, key: tuple[int, int], o: Observed, other: str, now: float) -> bool:
    """True while `o` may still wait to be told apart; False (read it) once the wait is over."""
    since, _, _, size = p.undecided.setdefault(key, (now, o.path, other, o.st.st_size))
    p._undecided_born.setdefault(key, o.born)
    if o.st.st_size > size:
        p.undecided[key] = (since, o.path, other, o.st.st_size)
    if now - since < scan_rules.UNDECIDED_SECONDS:
        return True
    p.undecided_read += 1
    p.events.read_undecided()
    p.log.warning(f"could not tell whether {o.path} is a copy of {other} (it holds no more than their shared "
                     f"first line, or cannot be compared) after {scan_rules.UNDECIDED_SECONDS:.0f} s; read as a new file: "
                     "if it is a copy, its lines are repeated", extra={"path": o.path})
    return False


def prefix_of_a_later_backup(p: Prospector, o: Observed, unmatched: dict[tuple[int, int], Observed]) -> bool:
    """`o`, new, plain, under a rotated name and holding more than its head: is all it holds at the start of another
    new plain backup of its family, longer and last written after it? Then it is a copy of that one's content made
    before it grew (logrotate `copy`, or an operator's `cp`, and a later copy or copytruncate: the later backup holds
    it all, and more): left alone as a copy, the later one read. (Read both, its lines came twice, no repeat named:
    exam30b's tests/tail/test_attack30_copy_between_copytruncates_repeats_or_loses.py.)"""
    key = (o.st.st_dev, o.st.st_ino)
    if o.gz or o.path == o.family or not p._is_rotated_name(o.path):
        return False
    later = [x for x in unmatched.values()
             if x is not o and not x.gz and x.family == o.family and x.path != x.family and p._is_rotated_name(x.path)
             and x.st.st_size > o.st.st_size and _age(x) > _age(o)]
    if not later:
        return False
    with p.fds.reading(o) as fh:
        head = None if fh is None else head_of(fh.head())
        if fh is None or head is None or o.st.st_size <= len(head):
            return False
        for x in later:
            with p.fds.reading(x) as xh:
                if xh is not None and same_bytes(fh.read, xh.read, o.st.st_size):
                    p.copies[key] = (o.st.st_size, o.st.st_mtime_ns)
                    return True
    return False


def copy_len(p: Prospector, o: Observed) -> int:
    """What `o` holds, decompressed (0 when that cannot be had: it then explains no hole)."""
    if not o.gz:
        return o.st.st_size
    f = p.files.get((o.st.st_dev, o.st.st_ino))
    if f is not None:
        # (Followed already, taken by a content at this scan: opened through the holder's descriptor, which the
        # listing names and which is closed since. Not weighed, a frozen agent's later copy had no hole length and
        # named a loss: exam30b's test_attack30_frozen_non_appending_copytruncates_false_hole_loss.py[compress].)
        try:
            return p.matcher.readable_len(p.fds.open(f), o) or 0
        except OSError:
            return 0
    with p.fds.reading(o) as fh:
        return 0 if fh is None else p.matcher.readable_len(fh, o) or 0


def edited_copy(p: Prospector, o: Observed) -> bool:
    """`o`, new at the name of a followed file deleted since (renamed over it: the live file or a
    backup), or at a rotated name of its family (rotated on before a scan saw it), which the agent
    still holds open: is it that file edited (`sed -i`, an editor saving by
    rename)? Then it is read on from where what was read of the old one ends in it (edits.py proves
    where), and what the edit changed is warned, not shipped: those lines were delivered as they were
    read. (Read from its start as a new file, every line of it already delivered was shipped a
    second time, silently.) The old file is read on to its end, so the new one is read on past its
    copy of what the old one holds beyond what was read (edits.past_old; sed copies the lines not read
    yet too), or the possible repeat is warned with its size. Not proven, and beginning with more of
    what was read than its head, it is read from its start with the repeat warned. True when `o` was
    followed here.
    A .gz is that file edited, then rotated and compressed before a scan saw it (logrotate `compress` right
    after a scrub): compared the same way through gzip, positions being those of its decompressed bytes. It is
    decompressed only when it begins with that file's head, and is complete (is_copy waits for that), and only
    up to edits.FIND_MAX bytes, always forward (edits.edited_copy's `forward`). (Skipped, it was read whole
    as a new file: every line shipped twice, unnamed.)"""
    head_only = None  # (a followed file of which no more than the first line was read, `o` renamed over it)
    for f in list(p.files.values()):
        s = f.state
        if f.gz or s is None or f.fh is None:
            continue
        if s.offset <= s.head_len:
            head_only = head_only or (f if f.path == o.path else None)
            continue
        if f.path != o.path and not discovery.is_rotated_path(f.family, o.path) and o.path != f.family + ROTATED_AWAY:
            # (Also at a rotated name of its family: edited and rotated on before a scan saw it at the name it
            # replaced, a scrub and a rotation in one run; or under no name, held since the holder caught it at the
            # live name, then compressed and deleted. Read from its start, every line shipped twice, unnamed.)
            continue
        try:
            old_st = f.fh.stat()
            if old_st.st_nlink:
                continue  # (still under a name: renamed away, not replaced)
        except OSError:
            continue
        with p.fds.reading(o) as new:
            if new is None:
                return False
            size = o.st.st_size
            if o.gz:
                if not p.matcher.head_is(new, s):
                    continue  # (not decompressed further: another file)
                whole = p.matcher.readable_len(new, o)
                if whole is None:
                    continue  # (still being written: is_copy has it wait)
                size = whole
            edit = None
            if not o.gz or size <= edits.FIND_MAX:
                edit = edits.edited_copy(f.fh, s.offset, s.head_len, new, size, forward=o.gz)
            shared = 0 if edit is not None else edits.common_prefix(f.fh, new, min(s.offset, size))
            shared = f.fh.read(0, shared).rfind(b"\n") + 1 if shared > s.head_len else 0  # (whole lines)
            if edit is not None:
                # The old file is read on to its end: what the new one holds of its bytes past the read offset
                # (copied by sed when not read yet) is shipped from there, not a second time from the new one.
                past, proven = edits.past_old(f.fh, s.offset, old_st.st_size, new, edit.resume, size)
        # (Rotated on since the edit, it is named by the file it replaced too.)
        here = o.path == f.path
        replaced, was = ("it", "was replaced by") if here else (f"{f.path}, then rotated on", "is")
        if edit is None:
            if shared > s.head_len:
                p.log.warning(f"{o.path} {was} a new file (renamed over {replaced}) that begins with the first "
                              f"{shared} bytes (whole lines) of what was read of the file it replaced, but could not be proven "
                              "an edited copy of it: read from its start, those bytes are shipped again",
                              extra={"path": o.path, "bytes_repeated": shared})
            return False
        plain = edit.resume == s.offset and edit.start >= s.offset
        if plain and past >= size and proven and not o.gz and holds_all_of_old(p, f, o):
            return False  # (a plain copy, holding all the old file holds: replaces_deleted's)
        if plain and past > edit.resume:
            p.log.warning(f"{o.path} {was} a copy of the file it replaced (renamed over {replaced}: `sed -i`, or "
                          "an editor saving by rename), edited or not where the agent had not read it yet: bytes "
                          f"{edit.resume} to {past} of the new file are a copy of what that file holds past what was "
                          f"read (bytes {s.offset} on), which is read from it, to its end, as it was written (the "
                          f"edit, if any, is not shipped). The new file is read on from byte {past}",
                          extra={"path": o.path, "offset": past})
        if not proven:
            p.ledger.repeated(o.path, size - past, past, f"it replaced the file being read (renamed over "
                              f"{replaced}: `sed -i`, an editor saving by rename), and from there on differs from what that file "
                              "holds past what was read, which is read on to its end: the lines of both are shipped")
        if plain:
            p._follow_new(o, past)
            return True
        p.log.warning(f"{o.path} {was} an edited copy of the file it replaced ("
                      + ("" if here else f"renamed over {replaced}; ") + "`sed -i`, or an editor saving by rename; "
                      f"the old file, deleted, is read on to its end): bytes {edit.start} to "
                      f"{edit.old_end} of what was read were changed ({edit.says()}; bytes {edit.start} to "
                      f"{edit.new_end} of it now). Those lines were shipped as first read; the edit is not "
                      f"shipped. The new file is read on from byte {past}, where what was read ends in it"
                      + (f" (at {edit.resume}) and what the old file holds after that" if past > edit.resume else ""),
                      extra={"path": o.path, "offset": past, "lines_removed": edit.removed,
                             "lines_altered": edit.altered, "lines_added": edit.added})
        p._follow_new(o, past)
        return True
    if head_only is not None:
        _head_only_replaced(p, head_only, o)
    return False


def _head_only_replaced(p: Prospector, f: Followed, o: Observed) -> None:
    """`o`, new at the name of the followed file `f`, deleted since, of which no more than the first line was read:
    when `o` begins with what `f` holds (whole lines, that first line at least), it may be `f` edited (`sed -i` of a
    one-line log, a sync tool's copy renamed over it), or a new file beginning with the same line. A first line alone
    proves neither, so `o` is read from its start and the possible repeat of those bytes warned with its size (`f` is
    read on to its end: what it holds past its first line, copied into `o`, is read from both). Not when the family's
    files share that first line (a layout or CSV header another known file of it begins with): a new file then.
    (Unsaid, the line and those appended before the replace were shipped twice without a word:
    tests/tail/test_attack20_one_line_log_replaced_repeat_unnamed.py.)"""
    s = f.state
    if s is None or s.cont or not s.head_len or s.offset != s.head_len or o.gz or p._head_shared(s):
        return
    try:
        old_size = f.fh.stat() if f.fh is not None else None
    except OSError:
        return
    if old_size is None or old_size.st_nlink:
        return  # (still under a name: renamed away, not replaced)
    if f.fh is not None and _name_when_deleted(f.fh.fd) not in (None, o.path):
        # Renamed away, then deleted (logrotate `create` + `compress`, Log4j 2 `.gz`, a cleaner): a rotation, and the
        # file at the live name a new one, not one renamed over it. (Warned "may be shipped again … renamed over it",
        # its header counted as read again: tests/tail/test_attack27_header_only_log_rotated_false_repeat.py.)
        return
    with p.fds.reading(o) as new:
        if new is None or f.fh is None:
            return
        shared = edits.common_prefix(f.fh, new, min(old_size.st_size, o.st.st_size))
        shared = f.fh.read(0, shared).rfind(b"\n") + 1  # (whole lines)
    if shared < s.head_len:
        return
    p.ledger.repeated(o.path, shared, 0, "it replaced the file being read (renamed over it: `sed -i`, an editor saving "
                      "by rename, a sync tool's copy), of which no more than the first line had been read, and begins "
                      "with what that file holds: whether it is a copy of it or a new file beginning with the same "
                      "lines cannot be proven, so it is read from its start (the old file is read on to its end)")


def _name_when_deleted(fd: int) -> str | None:
    """The name the deleted file open as `fd` had when its last link went (the kernel keeps it: "<path> (deleted)"):
    its live name when a file was renamed over it, a rotated name when it was renamed away first. None when it cannot
    be had."""
    try:
        link = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return None
    return link.removesuffix(" (deleted)") if link.endswith(" (deleted)") else None


def edited_copy_while_away(p: Prospector, o: Observed) -> bool:
    """At a restart, `o`, new at the name where a content read past its head was last seen, or at a rotated name
    of its live name (a backup edited, then compressed or rotated on), and no file holds that content now: that
    file edited while the agent was stopped and renamed over it (`sed -i`)? Nothing of what was read is kept
    across a restart but hashes (the old file, deleted, is not held either), so what the edit changed cannot be
    told; the same head and the hash of the bytes before the read offset found at one line end
    (edits.place_by_mark) prove where what was read ends: read on from there. Not proven, but beginning
    with what was read up to one of its earlier read positions (edits.proven_prefix), it is read from its start
    and the repeat named. True when `o` was followed so. Either way the content is forgotten without a loss warning of its own; lines its
    writer appended to the old live file after the edit, if it kept that file open, are in no file: the warning
    says so. (A backup so edited was read again whole as a new file, every line of it shipped twice, unnamed.)"""
    live = p.matcher.at_live_name(o)
    if o.gz and live:
        return False
    restored = False  # (a repeat named: once for the file)
    for lo in list(p.loose.values()):
        s = lo.state
        reread = bool(s.reread_to) and s.reread_to[0] > max(s.offset, s.head_len)
        # (Its own inode is _take_own_inode's; not one ext4 gave to a new file, the copy, once the edit freed it:
        # another generation, lo.reused. Skipped, a copytruncate copy of the edited log was read again whole.)
        if (s.gz or s.cont or lo.truncated or lo.collapsed or lo.gone_at is not None
                or s.offset <= s.head_len and not reread
                or (s.dev, s.ino) == (o.st.st_dev, o.st.st_ino) and not o.gz and not lo.reused):
            continue
        if live and s.path != o.path or not live and s.path != o.path and not discovery.is_rotated_path(s.family, o.path):
            continue
        with p.fds.reading(o) as fh:
            if fh is None or not p.matcher.head_is(fh, s):
                continue
            size = p.matcher.readable_len(fh, o)
            if size is None:
                continue  # (a .gz still being written: read as it is when complete)
            moved = edits.reread_edited(fh, size, s) if reread else None
            if moved is not None or s.offset <= s.head_len:
                if moved is None:
                    continue
                return truncation.reread_edited_while_away(p, lo, o, moved, cut=False)
            resume = edits.place_by_mark(fh, size, s.offset, s.mark, True)
            again = 0 if resume is not None else edits.proven_prefix(fh, size, s.earlier, s.head_len)
            begins = 0 if resume is not None or again or not live else edits.proven_prefix(fh, size, s.spaced,
                                                                                           s.head_len)
        kept_open = ("; lines its writer appended to the replaced file after the edit, if it kept that file open, are "
                     "in no file the agent can read (possibly lost)") if s.path == s.family else ""
        # (A backup may have been compressed or rotated on since: then named by the file read before the stop too.)
        copy = ("was replaced by an edited copy of the file it replaced" if o.path == s.path
                else f"is an edited copy of {s.path} as read before the stop")
        if resume is None:
            if begins and not restored:
                restored = True
                _restored_prefix_while_away(p, o, s, size, begins)
            if not again:
                continue
            lo.collapsed = 1
            p.ledger.read_again(o.path, min(size, s.offset), s.offset, f"it {copy}, renamed over it as `sed -i` "
                                f"does while the agent was stopped{kept_open}")
            p._follow_new(o, 0)
            return True
        lo.collapsed = 1
        p.log.warning(f"{o.path} {copy} (`sed -i`, or an editor saving by rename) while the agent "
                      f"was stopped: what was read of it (up to byte {s.offset}) ends at byte {resume} "
                      "of the new file, proven by the bytes before that end, found once. What the edit changed cannot "
                      "be told (only hashes of what was read are kept across a restart) and is not shipped: read on "
                      f"from there{kept_open}", extra={"path": o.path, "offset": resume, "was": s.offset})
        p._follow_new(o, resume)
        return True
    return False


def _restored_prefix_while_away(p: Prospector, o: Observed, s: FileState, size: int, begins: int) -> None:
    """`o`, new at the live name where the content `s` was read past its head, begins with what was read of it up to
    `begins` (FileState.spaced) but is not it (not where what was read ends): an older copy of the live log restored
    over it while the agent was stopped (`mv` from a backup, a restore tool renaming its file over it). Read as a new
    file from its start (what it holds past what was read may be new), its repeat is named and counted, as while the
    agent runs (edited_copy's "begins with the first N bytes … of what was read"): the bytes proven the same, the
    rest said as what may be (a banner the family's files share proves its own lines only: a new file after a
    `create` rotation is told so with the banner's bytes, no more). `s` is still looked for, and called lost if it is
    nowhere. (Unsaid, its lines were shipped twice: tests/tail/test_attack25_older_copy_restored_while_stopped_repeat_
    unnamed.py.)"""
    more = min(size, s.offset) - begins
    p.ledger.repeated(o.path, begins, 0, f"it begins with the same bytes as what was read of the file last read under "
                      f"its name (of which {s.offset} bytes were read), which it does not hold all of: an older copy "
                      "of it put there while the agent was stopped (restored from a backup?), or a new file beginning "
                      "as it did. It is read from its start, and the lines among those bytes that were shipped before "
                      "are shipped again" + (f"; so may the {more} bytes after them" if more > 0 else ""))
