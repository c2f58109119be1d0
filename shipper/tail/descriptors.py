"""The tailer's descriptors: how many files it keeps open (a budget below the process's limit: the
longest idle closed first, those still under their name first), and opening a file it follows or a
scan listed, checking that it is still that file. A file that cannot be read is named once (with
its errno) and kept in `unreadable`: retried at every scan, not gone."""
from __future__ import annotations

import errno
import logging
import os
import threading
import weakref
from contextlib import contextmanager
from typing import Iterator, Literal

from shipper.fdlimit import kept, soft_limit
from shipper.tail import birth, clock
from shipper.tail.followed import Followed, MovedDuringScan, Observed
from shipper.tail.holder import Holder, generation
from shipper.tail.identity import digest
from shipper.tail.reader import OpenFile

# What reading(o) does when `o`'s name holds another file since the listing (MovedDuringScan), or none.
OnMoved = Literal["none", "raise", "raise_gone"]


def fd_budget() -> int:
    """The files every tailer of the process keeps open together: half of what the soft descriptor limit leaves past
    64, or past what the sources and the agent keep whatever they read (fdlimit.kept) when that is more."""
    return max(0, (soft_limit() - max(64, kept())) // 2)


# The tailers sharing fd_budget (weak: one let go of shares no more). With a budget each, eight file sources of 40 busy
# files under a limit of 256 opened past it: outputs could not connect, opens failed and were named false losses
# (tests/tail/test_many_sources_share_the_descriptor_limit.py). Its lock: a WeakSet must not grow while read.
_sharing: weakref.WeakSet[Descriptors] = weakref.WeakSet()
_sharing_lock = threading.Lock()


class Descriptors:
    def __init__(self, files: dict[tuple[int, int], Followed], max_open: int | None, log: logging.Logger):
        """`max_open`: the files kept open at most; None for an equal share of fd_budget with the process's other
        tailers (at least 8, at most 4,096: beyond, the closing's count and sort of every open file costs)."""
        self.files = files  # the prospector's followed files (inode -> Followed), shared: their descriptors are budgeted
        self._max_open = max_open
        if max_open is None:
            with _sharing_lock:
                _sharing.add(self)
        self.log = log
        self.holder: Holder | None = None  # when the caller runs one (told of the files closed and opened)
        self.unreadable: dict[str, str] = {}  # matched files that cannot be opened: path -> error
        self.unreadable_since: dict[str, float] = {}  # path -> Unix time its opens began to fail (for /health)
        self.unreadable_inode: dict[str, tuple[int, int]] = {}  # path -> (device, inode) of the file that failed
        # Followed files whose reads fail now (EIO from a failing disk, ESTALE): path -> (error, since). Kept
        # apart from `unreadable`, which the scan's decisions read: these files are known and open.
        self.read_errors: dict[str, tuple[str, float]] = {}
        # At most this many of the files are open: only open() opens one, closing lowers the count. Below
        # the budget the files are not counted at each open (10,000 new files at the first look: a count and
        # a sort of every open file at each of their opens, most of the look's 30 s).
        self._open_most = 0

    @property
    def max_open(self) -> int:
        if self._max_open is not None:
            return self._max_open
        with _sharing_lock:
            tailers = len(_sharing)
        # At least the one file the refusal counts for each source (fdlimit.too_few_for): a floor of 8 a tailer
        # opened 7 x 4 files under a limit of 64 past what it left (tests/tail/test_attack21_recursive_globs_descriptor_refusal.py).
        return max(1, min(4096, fd_budget() // max(1, tailers)))

    @max_open.setter
    def max_open(self, files: int) -> None:
        self._max_open = files

    def leave(self) -> None:
        """This tailer has closed its files: its share goes to the others."""
        with _sharing_lock:
            _sharing.discard(self)

    def open(self, f: Followed) -> OpenFile:
        if f.fh is None:
            if self._open_most >= self.max_open:
                self._close_over_budget()
            fh = self.open_path(f.path, f.gz, f.held_fd)
            if (fh.dev, fh.ino) != (f.dev, f.ino):
                fh.close()
                raise FileNotFoundError(f.path)
            if not self.is_the_file(fh, f):
                fh.close()
                f.replaced = True  # (the next scan follows the file there anew: Matcher.same_content)
                raise FileNotFoundError(errno.ENOENT, "its inode holds another file now", f.path)
            f.fh, f.unopened = fh, False
            self._open_most += 1
            if self.holder is not None:
                self.holder.tailer_opened((f.dev, f.ino), generation(fh.fd), f.family)
            if f.held_fd is not None:
                f.held_fd = None
                if self.holder is not None:
                    self.holder.release((f.dev, f.ino))  # ours now
        return f.fh

    def _close_over_budget(self) -> None:
        """Room for one more open file within the budget, and a sixteenth of it besides (so that the files
        are counted and sorted once every so many opens, not at each)."""
        open_now = [x for x in self.files.values() if x.fh is not None]
        self._open_most = len(open_now)
        if len(open_now) >= self.max_open:
            # Over the descriptor budget: close the longest-idle files (their state stays;
            # they are found again by identity when they grow), those still under their name
            # first (see keeps_its_name); the others only when nothing else can be closed, and
            # only those read to their end: one with lines unread stays open past the budget until
            # it is read or the next scan finds it under its new name. (Closed, a `.gz` renamed
            # during the scan that found it, in no name the tailer knew, was deleted by the next
            # rotation before any read: its lines went without a word, torture seed 182224; the
            # budget is half the descriptor limit, so the rest is room for these few.)
            open_now.sort(key=lambda x: (not x.at_eof, x.active_at))
            excess = len(open_now) - self.max_open + 1
            closing: list[Followed] = []
            for x in open_now:
                if len(closing) == excess + self.max_open // 16:
                    break
                if self.keeps_its_name(x):
                    closing.append(x)
            if len(closing) < excess:
                chosen = {id(x) for x in closing}
                closing += [x for x in open_now if id(x) not in chosen and self._read_to_its_end(x)][: excess - len(closing)]
            for x in closing:
                # Deleted since the last scan (rotated away, read through the holder's descriptor):
                # closed, it is in no name and no descriptor, and the next scan would take it for
                # a file rotated away unread (a false loss). Read to its end, it is let go as one.
                assert x.fh is not None  # (one of open_now)
                x.deleted = x.deleted or x.fh.stat().st_nlink == 0
                x.fh.close()
                x.fh = None
                if self.holder is not None:
                    self.holder.tailer_closed((x.dev, x.ino))
            self._open_most -= len(closing)

    @staticmethod
    def _read_to_its_end(f: Followed) -> bool:
        """Was the open file `f` read to its end, and has it not grown since? (at_eof alone is as of the last read: a
        file written and renamed since is not.) Read to its offset or to read_to, as Prospector.may_open: read_to is
        set only by a read that found no byte more, not by one that took the last line whole (with read_to alone, a
        deleted one-line file read to its end was kept open past the budget: tests/tail/test_one_line_gz_copy.py).
        A compressed file is written once."""
        assert f.fh is not None
        read = max(f.state.offset, f.read_to) if f.state is not None else f.read_to
        return f.at_eof and (f.gz or f.fh.stat().st_size <= read)

    @staticmethod
    def is_the_file(fh: OpenFile, f: Followed) -> bool:
        """`fh`, opened by the name of the followed file `f` (closed: idle, over the budget, or not
        opened yet) and on its inode number: is it `f`, not another file given that number? ext4
        hands a freed inode to the next file at once — the next .gz of a rotation, at the very name
        `f` had (a scan overtaken by that rotation could not look at it): taken for `f`, it was read
        on from `f`'s offset, the end of one of its lines shipped as a record (b''). The inode's
        generation tells, where the file system has one; else the bytes `f` was read to: its head,
        and the bytes before its offset (f.tail) where it is that long (shorter, it was truncated:
        the read that follows tells). Either way, another file is not read as `f`: the next scan
        finds it new."""
        s = f.state
        known = s.gen if s is not None and s.gen >= 0 else f.gen
        if known >= 0:
            now = generation(fh.fd)
            if now is not None:
                return now == known
        elif s is None and f.born is not None:
            # Never opened (renamed during the scan that listed it), so no generation: its birth time, taken
            # with the listing, tells it from the file given its inode since under the same name (10,000
            # files at the first look: a file rotated out unread, the next one read in its place, and its
            # lines lost without a word: tests/tail/test_overtaken_scan.py).
            now_born = birth.born(f"/proc/self/fd/{fh.fd}", fh.ino)
            if now_born is not None and now_born != f.born:
                return False
        if s is None or not s.head_len or not f.tail:
            return True  # nothing read of it to prove it by (its inode number was all it had)
        if digest(fh.read(0, s.head_len)) != s.head:
            return False
        n = len(f.tail)
        return fh.size() < s.offset or fh.read(s.offset - n, n) == f.tail

    def keeps_its_name(self, f: Followed) -> bool:
        """May the open file `f` be closed: is it still under the name the last scan saw it at, so
        that the next scan finds it there or the holder holds it when it is renamed? (The holder
        is told first: a rename after this look is held.) One renamed or deleted since that scan (a
        rotation) is in no name the tailer knows, and the holder left it alone while the tailer
        had it open: closed, and deleted by the next rotation before that scan, the line written
        just before the rename was lost, or, read to its end, called "rotated away before the rest
        could be read" (tests/tail/test_descriptor_budget.py). It stays open until that scan."""
        if f.deleted or f.unnamed:
            return False
        if self.holder is not None:
            self.holder.tailer_closed((f.dev, f.ino))
        try:
            st = os.stat(f.path)
        except OSError:
            return False
        return (st.st_dev, st.st_ino) == (f.dev, f.ino)

    def open_observed(self, o: Observed) -> OpenFile:
        """Open a file the scan listed. A scan is no snapshot: logrotate may shift the backups
        between the listing and this open, and the bytes of the file now under the name must not
        be taken for o's (a complete backup proven "another file" by a newer one's bytes was read
        again: tests/tail/test_rotated_during_scan.py)."""
        fh = self.open_path(o.path, o.gz, o.fd)
        if (fh.dev, fh.ino) != (o.st.st_dev, o.st.st_ino):
            fh.close()
            raise MovedDuringScan(errno.ENOENT, "renamed or deleted during the scan", o.path)
        return fh

    @contextmanager
    def reading(self, o: Observed, on_moved: OnMoved = "none") -> Iterator[OpenFile | None]:
        """`o` opened for the `with` (closed after it), or None when it cannot be opened: its name gone or
        holding another file since the listing, or unreadable (named once by open_path). `on_moved`:
        "raise" lets MovedDuringScan out (another file's bytes tell nothing either way: the caller
        decides nothing at this scan); "raise_gone" raises it for a name gone since the listing too."""
        fh: OpenFile | None = None
        try:
            fh = self.open_observed(o)
        except MovedDuringScan:
            if on_moved != "none":
                raise
        except FileNotFoundError:
            if on_moved == "raise_gone":
                raise MovedDuringScan(errno.ENOENT, "renamed or deleted during the scan", o.path) from None
        except OSError:
            pass
        if fh is None:
            yield None
            return
        try:
            yield fh
        finally:
            fh.close()

    def read_failed(self, path: str, e: OSError) -> None:
        """A read of the followed file `path` failed: named once per error, retried at its next read (its
        offset stays: nothing is skipped)."""
        why = f"[Errno {e.errno}] {e.strerror}"
        was = self.read_errors.get(path)
        if was is None or was[0] != why:
            self.log.warning(f"cannot read {path}: {why}; retried (its lines wait, nothing is skipped)",
                             extra={"path": path, "errno": e.errno})
            self.read_errors[path] = (why, clock.wall() if was is None else was[1])

    def read_ok(self, path: str) -> None:
        if self.read_errors.pop(path, None) is not None:
            self.log.info(f"{path} is readable again", extra={"path": path})

    def open_path(self, path: str, gz: bool, held_fd: int | None = None) -> OpenFile:
        """Open a matched file; a file there but unreadable (permissions, ProtectHome=, an I/O
        error) is named once with its errno, and retried at every scan: it is not gone."""
        try:
            fh = OpenFile(path, gz, held_fd)
        except OSError as e:
            if e.errno not in (errno.ENOENT, errno.ENOTDIR):
                why = f"[Errno {e.errno}] {e.strerror}"
                if self.unreadable.get(path) != why:
                    self.log.warning(f"cannot read {path}: {why}; retried at every scan (its lines wait, nothing "
                                     "is skipped)", extra={"path": path, "errno": e.errno})
                if path not in self.unreadable:
                    self.unreadable_since[path] = clock.wall()
                self.unreadable[path] = why
                try:
                    st = os.stat(path)  # (needs no read permission)
                    self.unreadable_inode[path] = (st.st_dev, st.st_ino)
                except OSError:
                    self.unreadable_inode.pop(path, None)
            raise
        if self.unreadable.pop(path, None) is not None:
            self.unreadable_since.pop(path, None)
            self.unreadable_inode.pop(path, None)
            self.log.info(f"{path} is readable again", extra={"path": path})
        return fh

    def keep_unreadable(self, listed: dict[str, tuple[int, int]]) -> None:
        """Keep of the unreadable paths those a scan listed (`listed`: path -> device and inode) still holding the
        file that failed. A name a rotation gave to another file is no longer unreadable: that file is opened by its
        own inode, not through the name, so nothing would try the name again; kept, it said a file was unreadable that
        was not, and its family blocked: the unreadable file, deleted, was never called gone and its unread bytes went
        unnamed (tests/tail/test_attack17_unreadable_deleted_unnamed.py)."""
        keep = {p for p in self.unreadable if p in listed and self.unreadable_inode.get(p, listed[p]) == listed[p]}
        self.unreadable = {p: e for p, e in self.unreadable.items() if p in keep}
        self.unreadable_since = {p: t for p, t in self.unreadable_since.items() if p in keep}
        self.unreadable_inode = {p: k for p, k in self.unreadable_inode.items() if p in keep}
