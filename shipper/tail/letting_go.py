"""Letting go of open files: a deleted file read to its end (after DELETED_GRACE), a file moved out of
every followed name, an idle one (close_inactive, reopened by its identity later), the holder's
descriptors no longer needed, and at a stop the deleted files read to their end saved as gone (and the files
never read made known to what the stop saves).
Functions over the Prospector (prospector.py, `p`): they work on its followed set and per-scan state.
"""
from __future__ import annotations

import os
import stat
from typing import TYPE_CHECKING, Iterable

from shipper.tail import clock, discovery, gone, scan_rules
from shipper.tail.followed import ROTATED_AWAY, Followed, Observed
from shipper.tail.holder import Held, Holder
from shipper.tail.identity import HEAD_MAX, digest, head_of
from shipper.tail.reader import is_gzip_path

if TYPE_CHECKING:
    from shipper.tail.prospector import Prospector


# Why a held deleted file of a family out of the source's paths is let go unread (LossLedger.let_go).
LET_GO_OUT_OF_SCOPE = "a reload took their family out of the source's paths"


def release_held(p: Prospector, holder: Holder) -> None:
    """Give back the holder's descriptors of files that need it no more: opened by the tailer,
    read to their end, or copies of content followed elsewhere, or of a family no path of the source
    matches now (a reload narrowed them: what such a file, deleted, holds unread is named lost)."""
    name_out_of_scope(p, [h for h in p._held if (h.dev, h.ino) in p._held_out_of_scope
                          and (h.dev, h.ino) not in p.files])
    for h in p._held:
        key = (h.dev, h.ino)
        now = holder.holding(key)
        if now is None or now.fd != h.fd:
            # Given back during the scan (the tailer opened its own: Descriptors.open), its descriptor closed. (Given
            # to the file again, once the budget had closed the tailer's, its number was another file's or none: the
            # file was never read, its lines lost without a word: tests/tail/test_held_fd_given_back_in_scan.py.)
            continue
        f = p.files.get(key)
        if f is not None and f.held_fd is None and f.fh is None and not (f.state and f.state.offset >= f.size):
            f.held_fd = h.fd  # followed under a name: read through the descriptor while it lasts
        done = (f is not None and (f.fh is not None or (f.state is not None and f.state.offset >= f.size
                                                       and f.at_eof)))
        if key in p.moved:
            continue  # decided at the next scan
        if done or key in p.copies or key in p._held_out_of_scope or (f is None and not any(
                (lo.state.dev, lo.state.ino) == key for lo in p.loose.values() if lo.gone_at is None)
                and key not in p.undecided):
            if f is not None:
                f.held_fd = None
            holder.release(key)
    p._held = []


def name_out_of_scope(p: Prospector, held: list) -> None:
    """Held files of a family a reload took out of the source's paths, about to be let go: one deleted loses
    what its checkpoint did not deliver with its descriptor, named lost so (the reload that puts the path back
    cannot read it). Before, they were let go without a word (attack 15: 1,000 lines of a narrowed family's
    deleted backups). Its checkpoint, if any, is saved gone: put back, the path does not name it again."""
    if not held:
        return
    saved = {(lo.state.dev, lo.state.ino): lo for lo in p.loose.values()}
    files = []
    for h in held:
        lo = saved.get((h.dev, h.ino))
        delivered = lo.state.offset if lo is not None else (None if h.read is None else 0)
        files.append((h.fd, h.family, delivered))
    named = p.ledger.let_go(files, LET_GO_OUT_OF_SCOPE)
    for key in named:
        lo = saved.get(key)
        if lo is not None and not lo.state.gone:
            lo.state.bury_at_read(clock.wall())
            p.pending[lo.state.key] = lo.state


def bury_deleted(p: Prospector) -> None:
    """At a stop: a followed file deleted since the last scan and read to its end is saved as gone
    now (a tombstone), as that scan would have: after the restart its checkpoint, naming a file
    no longer there, was taken for the live file rotated away unread, a loss counted though
    nothing was unread (a cleaner and a stop at the same moment). So are the backups in a
    compression the agent does not read made since that scan (UnreadCompressed.look_at_stop)."""
    for f in list(p.files.values()):
        if f.fh is None or f.state is None or not f.at_eof:
            continue
        try:
            st = f.fh.stat()
        except OSError:
            continue
        if st.st_nlink == 0 and (f.gz or f.state.offset >= st.st_size):
            f.deleted = True
            p._unfollow(f)
            if p.holder is not None:
                # A copy the holder took meanwhile (it met the file after the scan that opened it)
                # holds nothing unread: let go now, not named lost as a held file never read.
                p.holder.release((f.dev, f.ino))
    p.unread_compressed.look_at_stop(p)


def close_idle(p: Prospector) -> None:
    """Release descriptors of files idle for close_inactive (reopened by identity later)."""
    now = clock.monotonic()
    for f in list(p.files.values()):
        if f.fh is not None and f.at_eof and now - f.active_at >= min(p.close_inactive, deleted_grace(p, f)):
            if f.deleted and not read_saved(p, f):
                continue  # a reload taking its batches back reads it again from the checkpoint: only through this
            if f.deleted:
                if not gone.finish_unfinished(p, f):
                    let_go_deleted(p, f)
                    p._unfollow(f)
                continue
            if f.unnamed and not f.gz:
                let_go_moved_away(p, f, now)
            elif not p.fds.keeps_its_name(f):
                continue  # renamed or deleted since the last scan: that scan decides first
            f.fh.close()
            f.fh = None
            f.window = b""
            if p.holder is not None:
                p.holder.tailer_closed((f.dev, f.ino))


def read_saved(p: Prospector, f: Followed) -> bool:
    """Is what was read of `f` in the source's checkpoint as delivered and saved? Until then a deleted file
    is kept open, its descriptor the only way to it: a reload (or an output's close) takes back the
    batches that hold its bytes and the restarted source reads them again from the checkpoint, through
    the descriptor handed over. Let go after its read (DELETED_GRACE) while an output was down, 20
    reloads lost hundreds of lines for that output (tests/e2e/test_attack12_reloads_while_down_lose_reread.py).
    Bounded: reading stops once the outputs' windows are full."""
    if p.saved is None or f.state is None:
        return True
    value = p.saved(f.state.key)
    return isinstance(value, dict) and isinstance(value.get("offset"), int) and value["offset"] >= f.state.offset


def deleted_grace(p: Prospector, f: Followed) -> float:
    """How long a followed file, idle, is kept open: a deleted one DELETED_GRACE (rotated away,
    its writer done with it) — unless it was written to after its deletion (`rm` of a live log
    whose writer keeps it open: an audit log may write once in ten minutes), then
    close_inactive, as a named file."""
    if not f.deleted:
        return p.close_inactive
    if not f.written_deleted and f.fh is not None:
        try:
            st = f.fh.stat()
        except OSError:
            return scan_rules.DELETED_GRACE
        # Written to since a scan found it deleted: its size or mtime moved, whatever the clocks.
        # Before that: the unlink set its ctime, and a write since sets mtime and ctime alike
        # (the kernel's file_update_time), so no later write leaves mtime behind — but only
        # an mtime from this host's clock can be compared: one ahead of it (a writer on another
        # host, an NFS or SMB server's clock) is past any local ctime, and every rotated file
        # deleted after it was read was called an `rm` of a live log.
        seen = f.deleted_seen
        f.written_deleted = st.st_nlink == 0 and (
            seen is not None and seen != (st.st_size, st.st_mtime_ns)
            or st.st_ctime_ns <= st.st_mtime_ns <= clock.wall_ns())
    return p.close_inactive if f.written_deleted else scan_rules.DELETED_GRACE


def let_go_deleted(p: Prospector, f: Followed) -> None:
    """A deleted file read to its end is let go. One its writer wrote to after the deletion may
    still be written to: what comes then is in no file the agent can reach. Said (not counted:
    nothing may come)."""
    if f.written_deleted:
        p.log.warning(f"data possibly lost: {f.path} was deleted while its writer kept it open and wrote on "
                         f"(`rm` of a live log?); let go after {p.close_inactive:g} s idle: what its writer "
                         "writes to it from now on is in no file the agent can reach (restart the writer, or make "
                         "it reopen its log; `close_inactive` sets how long such a file is kept)",
                         extra={"path": f.path})


def let_go_moved_away(p: Prospector, f: Followed, now: float) -> None:
    """`f`, open under no followed name, idle for close_inactive, is let go: where is it now?"""
    if f.fh is None:
        return
    try:
        path = os.readlink(f"/proc/self/fd/{f.fh.fd}")
        st = os.stat(path)
    except OSError:
        return
    if (st.st_dev, st.st_ino) != (f.dev, f.ino):
        return  # deleted meanwhile (the link reads "… (deleted)"), or renamed again
    p.moved_away[(f.dev, f.ino)] = (path, now)
    p.log.info(f"let go of {path} (moved out of the followed paths; read to its end, idle for "
                  f"{p.close_inactive:g} s): it is looked at in each full scan for "
                  f"{scan_rules.TOMBSTONE_SECONDS / 3600:.0f} h, and read again if written to", extra={"path": path})


def know_unread_at_stop(p: Prospector, held: Iterable[Held]) -> None:
    """At a stop, before the holder is let go: the files it holds that no scan took (the reader held back by an output
    down: the rotations went on), followed from their start through its descriptor and identified; and the followed
    files not identified yet, identified now. A stop that leaves batches undelivered saves each at the position it was
    found at (Tailer.unsaved_states): deleted before the next start (rotations past the last backup while the agent is
    stopped), its bytes are named lost then. Unknown to the stop, such a file was unknown to the next start too, and its
    lines went without a word (tests/tail/test_attack15_stop_output_down_rotations_deleted_undernamed.py).
    Whatever name the holder caught a file under: one behind the rotations (the agent frozen or starved, two rotations
    back to back) opens the live name when the writer's next file has it, and catches the first new file only as it is
    renamed to app.log.1 (or later to app.log.2). Taken only when caught under the live name, it went unsaved, and
    without a word when deleted while stopped (tests/tail/test_stop_output_down_unread_rotated.py).
    Not a deleted one (the let-go names its unread bytes), one adopted from a predecessor (its checkpoint knows it), a
    .gz, nor one that starts as a content of its family known to the tailer does: it may be that content copied
    (copytruncate, `cp`) or edited (`sed -i` renames its copy onto the live name), which only a scan's proofs tell
    (saved at its start, it was read again whole); the next start looks at it as before. Nor any before the first look
    has followed the files (a backup renamed meanwhile is history, not read)."""
    unknown = []
    for h in held:
        if h.adopted or is_gzip_path(h.path) or p.first_scan:
            continue
        try:
            st = os.fstat(h.fd)
            head = head_of(os.pread(h.fd, HEAD_MAX, 0))
        except OSError:
            continue
        if st.st_nlink == 0 or head is None:
            continue
        f = p.files.get((h.dev, h.ino))
        if f is None:
            unknown.append((h, st, head))
        elif f.state is None and f.fh is None and f.held_fd is None:
            f.held_fd = h.fd  # (identified below: its name may hold the writer's next file now)
    # The followed files identified first: a held file whose head is one of theirs may be a copy of it. Each under the
    # name it has now, as a scan would have seen it: rotated while the reader was held back, a file saved under the
    # live name was named at the next start as `app.log`, "N bytes or more" (the live file's wording), not app.log.2.
    for f in list(p.files.values()):
        fd = f.fh.fd if f.fh is not None else f.held_fd
        if fd is None or f.deleted:
            continue
        if f.state is None:
            p.identify(f)
        name = _family_name(fd, f.dev, f.ino, f.family)
        if name is not None and name != f.path:
            p._renamed(f, name)
        _save_size_now(p, f, fd)
    for h, st, head in unknown:
        if not _head_known(p, h.family, head):
            p._follow_new(Observed(_name_now(h), h.family, False, st, False, h.fd, clock.wall_ns()), 0)
    for family in sorted({f.family for f in p.files.values()} - {f.path for f in p.files.values() if not f.deleted}):
        _follow_live_unseen(p, family)


def _save_size_now(p: Prospector, f: Followed, fd: int) -> None:
    """At a stop: followed file `f` (open at `fd`) saved with the size it has now, when larger than its state says.
    Identified by this stop or written since its last read, its state had the size its last look saw: a file
    renamed by a rotation right before the stop, seen empty and never read, was saved as holding nothing, and its
    lines, deleted by rotations while the agent was stopped, went without a word
    (tests/tail/test_rotation_right_before_stop_named.py)."""
    s = f.state
    if s is None or f.gz:
        return
    try:
        size = os.fstat(fd).st_size
    except OSError:
        return
    if size > s.size:
        s.size = size
        p.pending[s.key] = s


def _follow_live_unseen(p: Prospector, family: str) -> None:
    """At a stop: the live name of `family`, which no followed file has (the live file was rotated away since the
    last look, by a rotation right before the stop): the file there now, followed from its start, so that the stop
    saves it (its placeholder while it is empty). Unknown to the stop, it was unknown to the next start: rotated on
    and deleted while the agent was stopped, its lines, and those of the files rotated after it, went without a word
    (a kill -9 at the same moment names them, from the live file's last checkpoint;
    tests/tail/test_rotation_right_before_stop_named.py). Not one that starts as a content of the family the tailer
    knows and holds more than that first line (copied or edited: only a scan's proofs tell), nor before the first
    look. Nor at the name of a backup a glob lists as a family of its own (`paths: [app.log*]`: app.log.1.gz's "live
    name" is a rotated name, which each rotation gives to the next backup): followed there, the next backup was
    saved as that family's new file and named deleted at the next start, a false loss (87492bf's look, withdrawn in
    280469f for it: tests/tail/test_attack6_csv_header_compress_restarts_false_loss.py)."""
    if p.first_scan or not p._in_scope(family) or is_gzip_path(family) or p.families.has_rotated_name_anywhere(family):
        return
    try:
        fd = os.open(family, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)  # (a FIFO there: not waited on)
    except OSError:
        return
    try:
        st = os.fstat(fd)
        head = head_of(os.pread(fd, HEAD_MAX, 0)) if stat.S_ISREG(st.st_mode) else None
    except OSError:
        return
    finally:
        os.close(fd)
    if not stat.S_ISREG(st.st_mode) or (st.st_dev, st.st_ino) in p.files:
        return
    if head is not None and st.st_size > len(head) and _head_known(p, family, head):
        return  # (holding more than a known first line: a copy or an edit, which only the next start's look tells)
    p._follow_new(Observed(family, family, True, st, False, None, clock.wall_ns()), 0)


def _head_known(p: Prospector, family: str, head: bytes) -> bool:
    """Does a content of `family` the tailer knows (followed or loose) start with `head`?"""
    known = [f.state for f in p.files.values() if f.state is not None] + [lo.state for lo in p.loose.values()]
    h = digest(head)
    return any(s.family == family and s.head_len == len(head) and s.head == h for s in known)


def _name_now(h: Held) -> str:
    """The name held file `h` has now, when it is one of its family's (a rotation renamed it since it was held); else
    the name a scan gives it (Prospector.observe)."""
    path = _family_name(h.fd, h.dev, h.ino, h.family)
    if path is not None:
        return path
    return h.path + ROTATED_AWAY if h.path == h.family else h.path


def _family_name(fd: int, dev: int, ino: int, family: str) -> str | None:
    """The name the file open at `fd` (inode `dev`, `ino`) has now, when it is one of `family`'s; None when it has none
    of them (deleted, moved away)."""
    try:
        path = os.readlink(f"/proc/self/fd/{fd}")
        st = os.stat(path)
    except OSError:
        return None
    if (st.st_dev, st.st_ino) == (dev, ino) and (path == family or discovery.is_rotated_path(family, path)):
        return path
    return None
