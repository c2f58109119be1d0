"""The prospector: finds the files of a source (discovery.py's candidates, the holder's held files)
and decides at each scan which is which, by identity wherever rotation moved them (matching.py's
proofs): a known content attached to the file that holds it, a new file followed, a copy left alone,
a file too short to tell waited on, a content gone called gone (its unread bytes a loss, losses.py).
It keeps the followed set (Followed, Loose: followed.py), gives a new file its identity, sees a
truncation, and lets go of files deleted, moved away or idle. Reading them is the harvester's
(harvester.py); tailer.py ties the two together. (Filebeat's filestream splits the same way: its
prospector finds files and decides create/rename/truncate/delete, its harvesters read.)
Its concerns are split by file, functions over the Prospector: copies.py (is a new file a copy
of a known content, how long one too short to tell waits), gone.py (when a content is gone, what it
lost), truncation.py (was a content replaced under its offset), letting_go.py (when an open file is
let go); scan_rules.py holds the numbers and markers they decide with.

How a scan decides (see docs/design.md, "Which file is which"):
1. Every followed file still open is checked for truncation (size below our offset, or the bytes
   before our offset changed): its content is then detached from the inode, which restarts as a
   new file at 0, and the old content is looked for elsewhere (a copytruncate copy).
2. Files are matched by (device, inode) + head fingerprint; states without an inode (restart,
   truncation, compression) are matched by content: same head and same bytes before the offset.
3. A file that matches no state is new: read from 0 — except on the first look at a path ever,
   where `read_from` applies to the configured file and rotated backups are history (skipped);
   a family born after that look, found at a later start, is read from 0, backups and all.
   A file whose content is a copy of a followed file (same head and same bytes) is left alone
   until the original is truncated or gone.
4. A state that matches nothing for two scans is gone: if it had unread bytes, that is a loss,
   logged with the file name and bytes, and counted. A fully read file gone is kept as a tombstone
   (so its compressed copy, appearing later, is recognised and not re-read) for TOMBSTONE_SECONDS,
   and only while among the newest of its family and of the source (tombstones.py).
5. A state whose family no path of the source matches any more (a reload changed `paths` or
   `exclude`) is neither gone nor lost: it is kept, untouched, so that the path put back goes on
   from its checkpoint; after OUT_OF_SCOPE_SECONDS out of scope it is forgotten.
"""
from __future__ import annotations

import errno
import logging
import os
import stat as stat_mod
from typing import Any, Callable, TypeGuard

from shipper.memo import BoundedMemo
from shipper.tail import birth, clock, copies, discovery, gone, held_gone, letting_go, looks, other_device, scan_rules, tombstones, truncation
from shipper.tail.attention import Lapses
from shipper.tail.checkpoint_queue import CheckpointQueue
from shipper.tail.copy_names import name_copies_of_placeholders, name_later_copies, name_rotated_placeholders
from shipper.tail.descriptors import Descriptors
from shipper.tail.events import TailEvents
from shipper.tail.followed import ROTATED_AWAY, Followed, Identified, Loose, MovedDuringScan, Observed, is_identified
from shipper.tail.harvester import Harvester
from shipper.tail.held_record import held_key
from shipper.tail.holder import Held, Holder, generation
from shipper.tail.identity import MARK_MAX, digest, file_id, head_of
from shipper.tail.losses import LossLedger
from shipper.tail.matching import Matcher, inode_gen
from shipper.tail.not_regular import NotRegular
from shipper.tail.reader import is_gzip_path
from shipper.tail.state import FILE_PREFIX, SEEN_PREFIX, FileState, load_states, waiting_files, waiting_key, window_copies
from shipper.tail.touches import Touches
from shipper.tail.unread_compressed import UnreadCompressed

# Files identified in this run whose found position is kept for a stop (Prospector.found; emptied when full: a
# stop after more new files than this saves none of those, as before they were kept).
FOUND_KEPT = 4096
# … looked through for entries no longer needed once it holds more than this (Prospector._release_found).
FOUND_LOOKED_AT = 64


class Prospector:
    """The followed set of one source and the scan that keeps it true (see the module's docstring).
    `ledger`, `pending`, `events`: shared with the harvester (losses said, checkpoints owed, counts);
    `harvester`: marks a deleted file read to its end done."""

    def __init__(
        self,
        patterns: list[str],
        exclude: list[str],
        base_dir: str,
        state: dict[str, Any],
        *,
        read_from: str,
        max_line_bytes: int,
        close_inactive: float,
        log: logging.Logger,
        events: TailEvents,
        ledger: LossLedger,
        pending: CheckpointQueue,
        harvester: Harvester,
        max_open: int | None,
        saved: Callable[[str], Any] | None = None,
    ):
        self.patterns = patterns
        # The source's checkpoint as delivered and saved (SourceContext.saved; None: what is emitted counts as
        # saved): a deleted file is let go only once what was read of it is there (letting_go.read_saved).
        self.saved = saved
        self.exclude = exclude
        self.base_dir = base_dir
        self.read_from = read_from
        self.max_line = max_line_bytes
        self.close_inactive = close_inactive
        self.log = log
        self.events = events
        self.ledger = ledger
        self.pending = pending
        self.harvester = harvester
        states, self.seen = load_states(state, warn=True)
        self.loose: dict[str, Loose] = {s.fid: Loose(s, born=s.born or None) for s in states}
        gone.mark_written_on(list(self.loose.values()))
        # Where each file identified in this run was found (offset, mark, ahead), by its state's key: that
        # position goes out with its first batch's checkpoint, saved once every output stored the batches
        # before it; a stop with an output down saves it from here instead (Tailer.unsaved_states).
        self.found: BoundedMemo[str, tuple[int, str, list]] = BoundedMemo(FOUND_KEPT)
        mono, wall = clock.monotonic(), clock.wall()
        for lo in self.loose.values():
            if lo.state.gone:  # a tombstone keeps its age across restarts
                lo.gone_at = mono - min(scan_rules.TOMBSTONE_SECONDS, max(0.0, wall - lo.state.gone))
                if not lo.state.gz:
                    lo.unshipped = max(0, lo.state.size - lo.state.offset)
        self.files: dict[tuple[int, int], Followed] = {}
        self.fds = Descriptors(self.files, max_open, self.log)
        self.families = discovery.FamilyIndex()  # of self.files and self.loose, for _is_rotated_name
        self.matcher = Matcher(self.files, self.loose, self.fds, self.families)
        for lo in self.loose.values():
            self.families.add(lo.state.family)
        self.first_scan = True
        self.held_before: dict[str, Any] = {}  # the checkpoint's entries of what the run before held (held_gone.py)
        self.held_name = True  # False: those were this process's own, named as they were let go (Tailer.held_named)
        self._fids_in_use: set[str] | None = None  # during a scan, the file ids in use (see identify)
        # The globs this source has looked through before (a restart): `read_from: end` skips the
        # history found at the first look through a glob, not a file made while the agent was
        # stopped (Filebeat's registry, Vector's checkpoints: `end` is for the first deployment).
        self._started = {g for g in self.seen if g.startswith(scan_rules.STARTED_GLOB)}
        if not self._started and self.seen:  # a state written before these markers
            self._started = {scan_rules.STARTED_GLOB + g for g in self._globs()
                             if any(discovery.glob_matches(f, [g], [], "/") for f in self.seen)}
        self.rotations = 0
        # family -> when a file under one of its rotated names was last followed as new from its
        # start: where the content of a live file that was still empty when last seen may be.
        self._read_whole_rotated: dict[str, float] = {}
        self._read_whole_gz: dict[str, float] = {}  # … of those, a compressed one (see gone.gone_unopened)
        self._rotated_new: set[tuple[int, int]] = set()  # … those files, while followed
        self._grown_at_head: dict[tuple[int, int], int] = {}  # (this scan) copies.grew_at_head: its size before
        self._emptied: set[str] = set()  # (this scan) families of which an empty rotated file was deleted
        self._left_in_copy: dict[tuple[int, int], tuple[str, int]] = {}  # (this scan) see Followed.copied_to
        self._cut_copied: dict[str, Observed] = {}  # (this scan) family -> the copy its cut content was found in
        self._cut_files: dict[tuple[int, int], str] = {}  # (this scan) files found cut, their content in a copy -> family
        self._later_copies: dict[str, list[Observed]] = {}  # (this scan) family -> copies copies.later_copy_of_cut named
        # (this scan) later copies of a file found cut in place -> the name of the content each holds (copy_names.py)
        self._copy_names: dict[tuple[int, int], str] = {}
        # (this scan) … and the length of the copy made before each (copy_names.py: a hole that long at its start is no news)
        self._hole_of: dict[tuple[int, int], int] = {}
        self._head_copy_told: set[tuple[int, int]] = set()  # (this scan) live files copies.head_copy_of_grown named cut
        # (this scan) inodes cut in place whose window was named with the copy of their head their content is in
        # now (FileState.head_window): followed again as cut, their window not named again
        self._window_told_in_copy: set[tuple[int, int]] = set()
        # (first scan) live files _cut_empty_while_away found, each with the mtime its placeholder was saved with
        self._cut_while_away_unsaid: list[tuple[Followed, int]] = []
        self._head_moved_away: set[tuple[int, int]] = set()  # (first scan) live files _cut_while_away found
        # (this scan) the files already waiting to be told apart as it began: listed at an earlier scan
        self._waiting_before: set[tuple[int, int]] = set()
        # (this scan) live file -> the copy the holder saw made of it, a window named (copies.copy_of_unread_live)
        self._copy_made_of: dict[tuple[int, int], tuple[int, int]] = {}
        # (this scan) followed files at their family's live name at the last look and under a rotated name now (renamed
        # by a rotation, or found so at a restart): see copies.copy_before_rotated_on.
        self._left_live: set[tuple[int, int]] = set()
        # (this scan) inode -> the file id of the content it held, found truncated and written again
        # while the agent was away (Loose.regrown): what it holds now is named after it (Followed.after).
        self._regrown_on: dict[tuple[int, int], str] = {}
        # Live files still empty when the agent stopped (their placeholders): at the first scan, as if grown.
        # (inode -> its generation, ext4 giving a freed inode to the next live file at once, and its mtime at the
        # look that saved it, 0 when unknown: copies.restored_empty_live.)
        self._restored_empty = {(s.dev, s.ino): (s.gen, s.mtime) for s in states
                                if not (s.head_len or s.size or s.offset or s.gone) and s.path == s.family}
        # Files that may be copies but are too short to tell (inode -> first seen, path, of what).
        # (The size seen last: a copy being made only grows, so a smaller file is another one on a reused inode.)
        self.undecided: dict[tuple[int, int], tuple[float, str, str, int]] = {}
        self.undecided_read = 0  # … read anyway once UNDECIDED_SECONDS had passed
        self._undecided_missing: dict[tuple[int, int], tuple[int, float]] = {}  # missed scans, since when
        self._undecided_born: dict[tuple[int, int], int | None] = {}  # their birth times when they began to wait
        self._undecided_head: dict[tuple[int, int], tuple[str, int]] = {}  # … their heads (digest, length)
        # … those with a birth time, as the checkpoint keeps them (state.WAITING_PREFIX): at a restart's first scan,
        # files there before the stop (_waiting_before)
        self._waiting_saved: dict[tuple[int, int], tuple[int, str, str]] = dict(waiting_files(state))
        self._waited_across: set[tuple[int, int]] = set()  # of them, those not listed at that scan: waiting again
        self.copies: dict[tuple[int, int], tuple[int, int]] = {}  # proven copies: inode -> (size, mtime)
        self.unlistable: dict[str, str] = {}  # folders of waiting states that cannot be listed: folder -> error
        self._listed: dict[str, str] = {}  # (this scan) folder -> "" or why it cannot be listed
        self._held: list = []  # what the holder held at the start of this scan
        self._scope: dict[str, bool] = {}  # family -> does a path (not excluded) match it
        # Files moved out of every followed name (renamed away, their folder's symlink swapped) and
        # let go after close_inactive: inode -> (the name they have now, when). Looked at in each
        # full scan while their tombstone lasts: written to again (a writer that kept its old file
        # open), they are followed again from their checkpoint.
        self.moved_away: dict[tuple[int, int], tuple[str, float]] = {}
        self.moved: set[tuple[int, int]] = set()  # files renamed during this scan: decided at the next
        self._held_out_of_scope: set[tuple[int, int]] = set()  # held files of families out of scope (this scan)
        self._listed_fds: set[int] = set()  # (this scan) files opened as listed: _hold_listed
        # Live files whose copytruncate window the holder's events told before they were followed: followed as cut.
        self._cut_told: set[tuple[int, int]] = set()
        # copies a window was named with: inode -> born (those with a birth time kept in the checkpoint)
        self._window_copies: dict[tuple[int, int], int | None] = dict(window_copies(state))
        self.lapses = Lapses()  # when the tailer last looked at none of its files (a truncation's unseen writes)
        # What a predecessor's looks saw of the contents it followed, by state key (Tailer.take_looks): given back as
        # each is followed again on the same inode (_attach)
        self.kept: dict[str, looks.Kept] = {}
        self.touches = Touches()  # files touched, not written, since the last scan (the watcher's events)
        self.unread_compressed = UnreadCompressed()  # backups in xz, zstd, bzip2, zip …: named, not read
        self.not_regular = NotRegular(self.log)  # matched FIFOs, sockets, devices: named, not read
        self.forgotten = tombstones.Forgotten()  # tombstones forgotten past their bound in count
        self.tombstones_held = 0  # (at the last scan's end: the gauge shipper_file_tombstones)

    @property
    def holder(self) -> Holder | None:
        """The holder of rotated files, when the caller runs one (its descriptors are opened through)."""
        return self.fds.holder

    @property
    def unreadable(self) -> dict[str, str]:
        """Matched files that cannot be opened: path -> error."""
        return self.fds.unreadable

    # ------------------------------------------------------------------ scanning

    def observe(self) -> dict[tuple[int, int], Observed]:
        others: list[str] = []
        cands = discovery.candidates(
            self.patterns, self.exclude, self.base_dir, self.families,
            followed=[f.family for f in self.files.values() if not f.deleted],
            awaited=[lo.state.family for lo in self.loose.values() if lo.gone_at is None], others=others)
        self.not_regular.look(others)
        obs: dict[tuple[int, int], Observed] = {}
        at = clock.wall_ns()
        self.unread_compressed.new_scan()
        for path, (direct, family) in cands.items():
            try:
                st = os.stat(path)
            except OSError:
                continue
            if not stat_mod.S_ISREG(st.st_mode) or self.unread_compressed.not_text(path, st):
                continue  # (compressed in a format the agent does not read, a glob matching it: named, not read)
            key = (st.st_dev, st.st_ino)
            if key in obs and obs[key].direct and not direct:
                continue
            f = self.files.get(key)
            # (A file held open keeps its inode: no other file can be given it meanwhile.)
            born = None if f is not None and f.fh is not None else birth.born(path, st.st_ino)
            obs[key] = Observed(path, family, direct, st, is_gzip_path(path), at_ns=at, born=born)
        if self.moved_away:
            self._look_at_moved_away(obs)
        self._held_out_of_scope = set()
        for h in self._held:
            key = (h.dev, h.ino)
            if key not in obs and self._held_not_text(h):
                continue  # (caught at a name a glob matches, and compressed: let go, named as a listed one is)
            if key not in obs and not self._in_scope(h.family):
                # Held for a family no path of the source matches now: a reload took it out (the
                # predecessor's descriptors were handed over). Not read on "as rotated away": let go.
                self._held_out_of_scope.add(key)
                continue
            if key in obs:
                # Listed by name too: opened through the held descriptor all the same, so that a
                # rename or delete during the scan (logrotate's next step) does not take it away
                # between the listing and its identification (its .gz was read as new, and the
                # file itself again through the descriptor: tests/tail/test_rotated_during_scan.py).
                if obs[key].fd is None:
                    obs[key].fd, obs[key].active_at = h.fd, h.active_at
                continue
            try:
                st = os.fstat(h.fd)
            except OSError:
                continue
            # Renamed since it was held (its name now unknown) or deleted: known by its descriptor.
            f = self.files.get(key)
            if f is not None and f.fh is None and not self._same_generation_as(f, h.fd):
                # Its inode was followed, closed, as another file deleted since (ext4 gives a freed inode to the next
                # file): this one is not named after it. (Named so, the writer's next file, caught by the holder at
                # the live name and compressed, was no file caught there: its .gz took a header-only content and was
                # read on from after the header, every line twice, torture seed 192045.)
                f = None
            # The live name now belongs to another file: this one is named apart (logs, read_changed).
            path = f.path if f else (h.path + ROTATED_AWAY if h.path == h.family else h.path)
            # Its birth time, as a listing takes it: a placeholder never opened (renamed during the scan that found
            # it: no generation) is told by it from another file given its inode since. (Without it, the file a
            # rotation made on that inode, held and deleted, took the placeholder, and the lines of the file it stood
            # for went without a word: torture seeds 193122, 193161, 194215.)
            born = None if f is not None and f.fh is not None else birth.born(f"/proc/self/fd/{h.fd}", h.ino)
            obs[key] = Observed(path, h.family, False, st, is_gzip_path(h.path), h.fd, at, h.active_at, born=born)
        for key, o in obs.items():
            if self._worth_holding(key, o):
                self._hold_listed(key, o)
        return obs

    def _held_not_text(self, h: Held) -> bool:
        """Is the held file `h` one the agent does not read (unread_compressed.not_text)?"""
        try:
            return self.unread_compressed.not_text(h.path, os.fstat(h.fd), h.fd)
        except OSError:
            return False

    @staticmethod
    def _same_generation_as(f: Followed, fd: int) -> bool:
        """Is the file open as `fd` of the inode generation `f` was followed at (or is either not known)?"""
        gen = f.state.gen if f.state is not None else f.gen
        now = generation(fd)
        return gen < 0 or now is None or now == gen

    def _worth_holding(self, key: tuple[int, int], o: Observed) -> bool:
        """Is `o` a file _hold_listed opens: under a rotated name, not held already, no history skipped
        at the first look, and not followed — or followed closed, by no identity (a placeholder) or
        born otherwise (its inode given to another file)? Files followed are found again by identity."""
        if o.fd is not None or len(self._listed_fds) >= scan_rules.LISTED_OPEN_MAX or self.matcher.at_live_name(o):
            return False
        if self.first_scan and o.family not in self.seen:
            return False
        f = self.files.get(key)
        if f is None:
            return True
        if f.fh is not None:
            return False
        return f.state is None or (f.born is not None and o.born is not None and f.born != o.born)

    def _hold_listed(self, key: tuple[int, int], o: Observed) -> None:
        """Open `o`, a file under a rotated name that no followed file is on, as it is listed: this
        scan compares and reads it through that descriptor (o.fd), so that a rotation or a cleaner
        deleting it before it is compared takes nothing away (as the watcher holds a file renamed
        on its inotify event). Listed, then deleted by the rotation that overtook the scan before
        it could be opened, its lines went without a word (a .gz: the compressed form of a content
        read, as likely as not) or were called lost (torture seeds 350, 1089). Closed at the
        scan's end (_let_listed_go)."""
        try:
            fd = os.open(o.path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
        except OSError:
            return
        try:
            st = os.fstat(fd)
        except OSError:
            st = None
        if st is None or (st.st_dev, st.st_ino) != key or (o.born is not None and birth.born(o.path, st.st_ino) != o.born):
            os.close(fd)  # (renamed or deleted since the stat: decided as before, MovedDuringScan)
            return
        o.fd = fd
        self._listed_fds.add(fd)

    def _held_since_listed(self, key: tuple[int, int], o: Observed) -> bool:
        """At the first look: `o`, listed and not opened yet, held by the holder since (a rotation renamed
        it: the holder watches from before the look, FileSource.run) is compared and read through the
        holder's descriptor. (Opened by its name, the look found the writer's next file there, and `o`,
        in no name the look knew, was lost to the next rotation: tests/tail/test_first_look_holds.py.)
        True when the holder caught it renamed from its family's live name: it was the live file after
        the watch began, listed under a rotated name only because the look came to its folder later. No
        history then: read as the live file is (its lines were skipped, silently)."""
        h = self.holder.holding(key) if self.holder is not None else None
        if h is None or (o.born is not None and birth.born(f"/proc/self/fd/{h.fd}", key[1]) != o.born):
            return False
        if o.fd is None:
            o.fd = h.fd
        return h.moved_from == o.family

    def _renamed_since_held(self, key: tuple[int, int], o: Observed) -> bool:
        """Was `o`, opened as listed (_hold_listed), renamed or deleted since? Read through that descriptor
        all the same, but no candidate for a content of which only the shared head was read, as a file
        renamed since the listing is not when opened by its name (Matcher.could_hold_head): the next
        scan looks at it under its new name. (Taken at once, a .gz of another content, made by the
        rotation that overtook the scan, took a header-only content and was read from after its
        header: 25 lines twice, torture seed 439.)"""
        return o.fd in self._listed_fds and not self._named(o.path, key)

    @staticmethod
    def _named(path: str, key: tuple[int, int]) -> bool:
        """Does `path` hold the file `key` (dev, inode) now?"""
        try:
            st = os.stat(path)
        except OSError:
            return False
        return (st.st_dev, st.st_ino) == key

    def _let_listed_go(self) -> None:
        """The scan's end: the descriptors _hold_listed opened are closed. A file followed through one
        opens its own now (a file deleted meanwhile is read through it to its end), or by its name later."""
        if not self._listed_fds:
            return
        for f in list(self.files.values()):
            if f.held_fd in self._listed_fds:
                if f.fh is None and not self._named(f.path, (f.dev, f.ino)):
                    try:
                        self.fds.open(f)
                    except OSError:
                        pass
                f.held_fd = None
        for fd in self._listed_fds:
            os.close(fd)
        self._listed_fds = set()

    def _look_at_moved_away(self, obs: dict[tuple[int, int], Observed]) -> None:
        tombs = {(lo.state.dev, lo.state.ino): lo for lo in self.loose.values() if lo.gone_at is not None}
        now = clock.monotonic()
        for key, (path, since) in list(self.moved_away.items()):
            f = self.files.get(key)
            if f is not None:
                if f.fh is not None:
                    del self.moved_away[key]  # followed again
                continue  # (closed, its tombstone is made in this scan)
            lo = tombs.get(key)
            if lo is None or now - since >= scan_rules.TOMBSTONE_SECONDS:
                del self.moved_away[key]  # forgotten
                continue
            try:
                st = os.stat(path)
            except OSError:
                del self.moved_away[key]  # moved or deleted again: nothing to find there
                continue
            if (st.st_dev, st.st_ino) != key:
                del self.moved_away[key]
            elif st.st_size > lo.state.offset and key not in obs:
                self.log.info(f"{path} (moved out of the followed paths, let go) was written to again: read",
                              extra={"path": path})
                obs[key] = Observed(path, lo.state.family, False, st, False)

    def scan(self) -> None:
        """Look at the file system once and bring the followed set up to date."""
        self._fids_in_use = set()  # (see identify)
        try:
            self._scan()
        finally:
            self._fids_in_use = None
            self._let_listed_go()

    def _scan(self) -> None:
        now = clock.monotonic()
        escaped: dict[str, int] = {}
        overflowed: set[str] = set()
        if self.holder is not None:
            self._held, escaped = self.holder.take()
            overflowed = self.holder.take_overflowed()
        self._grown_at_head, self._emptied, self._left_in_copy, self._regrown_on = {}, set(), {}, {}
        self._window_told_in_copy = set()
        self._cut_copied, self._cut_files, self._left_live, self._head_copy_told = {}, {}, set(), set()
        self._later_copies, self._copy_names, self._hole_of = {}, {}, {}
        self._cut_while_away_unsaid, self._head_moved_away = [], set()
        self._waiting_before = set(self.undecided)
        self._copy_made_of = {}
        for f in list(self.files.values()):
            if copies.grew_at_head(self, f):
                self._grown_at_head[(f.dev, f.ino)] = f.seen_size
            try:
                self._check_cut(f)
            except OSError as e:  # its disk fails (EIO): this file waits, the others go on
                self.fds.read_failed(f.path, e)
        self.touches.scanned()
        self.moved = set()
        obs = self.observe()
        if self.first_scan:
            self._waiting_before |= self._waited_before_the_stop(obs)
        for k in [k for k in self._window_copies if k not in obs]:
            if self._window_copies.pop(k) is not None:
                self.pending[copies.window_copy_key(k)] = None  # (listed no more: forgotten in the checkpoint too)
        if self.holder is not None:
            copies.copy_of_unread_live(self, self.holder.take_copies(), obs)
        unmatched = dict(obs)

        # 1. followed inodes
        for key, f in list(self.files.items()):
            o = listed = unmatched.get(key)
            try:
                same, o = self._same_followed(f, o)
            except MovedDuringScan:
                # Closed, and renamed since the listing (a rotation: its name holds the writer's next
                # file now), and not found under another of its family's names: its bytes cannot be
                # compared, so nothing is decided; the next scan finds it under its new name. (Taken
                # for another content, its state was let loose and called lost, and the inode read
                # again from 0 as a new file.)
                del unmatched[key]
                self.moved.add(key)
                if o is not None and is_identified(f) and not f.gz and o.st.st_size > f.state.size:
                    # Listed larger than it was last seen: kept, so that gone it names what it held unread (left
                    # out, its state was laid to rest as read to its end once its inode held the writer's next
                    # file: 1,655 bytes unnamed, torture seed 192215).
                    f.state.size, f.at_eof, f.grown_unopened = o.st.st_size, False, True
                continue
            if o is not None:
                unmatched[key] = o  # (the listing under the name it was renamed to since, if so)
            if o is not None and not same and self._overwritten(f, o):
                same = True  # (the same file, read to its end now: what it held unread was named lost)
            if o is not None and same and f.state is None and not f.deleted and (
                    f.unopened or f.unproven and o.st.st_size != f.seen_size):
                # Never opened (renamed during the scan that found it), or grown since it was found
                # with less than a line in it: left unmatched, it is looked at again as a file just
                # found (step 2: a loose content proven to be in it takes it — a .gz of a content
                # read, renamed again during the next scan, was read from 0; step 3: a copy of a
                # followed file is left alone, else it is followed).
                self._unfollow(f)
                self._put_placeholder(f, None)
                continue
            # (Listed shorter than what was read, of its birth time, and renamed since by the rotation that overtook
            # the scan, or not: cut all the same. Its bytes no longer show the content read, and taken for another
            # file, its content was found in its copy and the window went unsaid: torture seed 197027.)
            cut = listed if listed is not None and listed is not o and self._cut_when_listed(f, listed) else o
            if (cut is not None and f.fh is None and is_identified(f) and not f.gz and cut.path == f.path
                    and cut.st.st_size < f.state.offset
                    and (same or self.matcher.emptied_in_place(f, cut) or self._cut_when_listed(f, cut))
                    and truncation.check_truncated(self, f, cut.st.st_size, mtime_ns=cut.st.st_mtime_ns)):
                # Closed (idle, or over the budget) and shorter than what was read: truncated. Its
                # content is looked for in a copy now (step 2), not once it is read: meanwhile
                # step 3 compared the copy (a copytruncate .gz) with what the file holds now, no
                # copy, and read it from 0 (tests/tail/test_identity.py). Its inode reads anew.
                unmatched.pop(key, None)
                continue
            if o is not None and same:
                del unmatched[key]
                if o.fd is not None and f.fh is None and f.held_fd is None and o.fd not in self._listed_fds:
                    # Held since a scan listed it by name: opened (identified, compared) through the
                    # holder's descriptor from now on, whatever holds its name (the writer's next file).
                    f.held_fd = o.fd
                if o.path != f.path:
                    self._renamed(f, o.path)
                f.size, f.mtime_ns, f.deleted, f.unnamed = self._readable_size(f, o), o.st.st_mtime_ns, False, False
                f.settled = o.settled
                f.seen_size = o.st.st_size
                continue
            if f.fh is not None:
                # Open but not under any name we watch (deleted, or moved away: renamed out of the
                # family, or its folder's symlink swapped to another folder): read to its end.
                st = f.fh.stat()
                f.deleted = st.st_nlink == 0
                f.unnamed = not f.deleted
                just_deleted = f.deleted and f.deleted_seen is None
                if just_deleted:
                    f.deleted_seen = (st.st_size, st.st_mtime_ns)
                if not f.gz and st.st_size > f.size:
                    # Written to since the last read, then moved or deleted (while the agent slept or
                    # was frozen): not at its end any more; read through the descriptor first.
                    f.at_eof = False
                self.harvester.mark_done(f)
                if f.deleted and f.state is None and not self.identify(f):
                    # Deleted before it ever had a complete line.
                    unread = max(0, (f.fh.size() if f.gz else st.st_size) - f.start)
                    if unread:
                        self.ledger.lost(f.path, unread, "were deleted before the file held a complete line")
                    else:
                        # Held open, it had no byte left to read: nothing of it is lost, whether seen under
                        # its backup names or not (a file that went through the live name unseen meanwhile
                        # is the holder's escape, counted there). An empty .gz may be made from it (logrotate
                        # `compress ifempty`): copies.empty_known.
                        self._emptied.add(f.family)
                    self._unfollow(f, keep_loose=False)
                    self._put_placeholder(f, None)
                    continue
                if (not f.deleted or not f.at_eof or now - f.active_at < letting_go.deleted_grace(self, f)
                        or just_deleted):
                    # (Kept through the scan that finds it deleted, however long idle: a file renamed over its
                    # name is compared with it in step 3, an edited copy (`sed -i`) read on from where it was.
                    # Let go at once, the copy was read from its start: every line shipped twice, unnamed.)
                    continue
                if gone.finish_unfinished(self, f):
                    continue
                # Deleted and read as far as it goes: let it go. Fully read, its state stays as a
                # tombstone (a compressed copy may appear); a partial last line left is a loss.
                letting_go.let_go_deleted(self, f)
            elif f.state is None and (f.size > f.start or f.unopened and f.path == f.family) and (
                    f.path in self.unreadable or f.unopened):
                # Never identified (it could not be opened: unreadable, or renamed during the scan
                # that found it) and not seen now (or its inode holds another file): its bytes were
                # never read. Looked for, then called gone, as any content is (gone.gone_unopened). (A
                # live file never opened may have been written to after the listing that saw it
                # empty: dropped, its lines went without a word when it was deleted: seed 1230.)
                gone.unidentified_loose(self, f, now)
            elif (f.state is None and f.fh is None and f.path == f.family and not f.gz and not f.deleted
                  and not f.size and not f.seen_size):
                # The live file's placeholder, empty when last looked at, closed (over the descriptor budget, or idle),
                # not found now or its inode another file's: rotated away, and deleted or replaced before it was looked
                # at again. Dropped, what was written to it meanwhile went without a word (torture seed 400261: 94
                # lines); loose, it is judged gone as a live file's placeholder is after a restart (gone.empty_live_
                # rotated: maybe in a compressed file read since, said so; else lost, how much unknown). (Listed
                # grown, it is left as before: its bytes may be in a .gz read since, no word of them counted.)
                gone.unidentified_loose(self, f, now)
            elif f.fh is None and f.state is not None and not f.gz and f.seen_size > f.state.size:
                # Closed (idle, or over the descriptor budget), seen grown at its last look, gone
                # before it was read again: what it had grown by is unread (its state's size, of
                # the last read, said nothing was: a tombstone, lost without a word).
                f.state.size = f.seen_size
            self._unfollow(f)

        self._rotated_new &= self.files.keys()
        if self.first_scan:
            name_copies_of_placeholders(self, unmatched)
        # 2. loose states: by inode first, then by content
        # Fingerprinted states first: an inode-only placeholder must not take a known file's inode.
        # Then the states read furthest: they have the strongest proof, and a state of which only
        # the head was read must not take a file another state proves is its own.
        for _fid, lo in sorted(self.loose.items(), key=lambda kv: (-kv[1].state.head_len, -kv[1].state.offset)):
            s = lo.state
            try:
                if self._take_own_inode(lo, unmatched, now):
                    continue
            except MovedDuringScan:
                # Its inode was listed under a name that holds another file now (renamed since): looked
                # at under the name it has now, at this scan, as a new file renamed during it is (left to
                # the next scan, a file given a tombstone's inode, renamed by the rotation that overtook
                # the scan and deleted by the next, went without a word: torture seed 1268). Under none
                # of its family's rotated names: decided at the next scan; not missing meanwhile.
                key = (s.dev, s.ino)
                listed = unmatched.get(key)
                found = self._renamed_since_listed(listed) if listed is not None else None
                if found is not None:
                    unmatched[key] = found
                    try:
                        if self._take_own_inode(lo, unmatched, now):
                            continue
                    except MovedDuringScan:
                        found = None
                if found is None:
                    unmatched.pop(key, None)
                    self.moved.add(key)
                    lo.missing, lo.since = 0, now
                    if s.offset > s.head_len:
                        self._holding_all(lo, unmatched)
                    continue
            moved_since: list[tuple[int, int]] = []
            holding = self._holding_most(lo, unmatched, moved_since)
            if moved_since:
                # Renamed since the listing (the next rotation): it may hold this content, so
                # the content is not missing from this scan; the next one looks at it under
                # its new name. (Called gone, its .gz was read again from 0 as a new file.)
                self.moved.update(moved_since)
                lo.missing, lo.since = 0, now
            if holding is not None:
                key, resume = holding
                self._attach(lo, unmatched.pop(key), resume)
            else:
                if s.head_len and s.offset == s.head_len and lo.gone_at is None:
                    # Only the head was read: its bytes prove nothing against a same-headed file.
                    # Taken only when exactly one file could hold it (and is no copy of another),
                    # never a file at the live name: content moves away from it, not onto it. Nor a
                    # plain file once its inode is gone or given to another (it was deleted, and a
                    # rotation renames a file, it does not copy it and delete it: _own_inode_left): the
                    # writer's next file, header only, took a live file rotated out unread, its last
                    # lines gone without a word. (Its compressed form is another file.) Unless it was cut in
                    # place under our descriptor (copytruncate: `truncated`), whatever became of its inode
                    # since: its copy is a plain file (kept by the holder while a rotation deleted both, it
                    # was read from 0, its first line twice: torture seed 192072). A glob that matches the
                    # backups too (`app.log*`) lists them directly: under a rotated name of this
                    # content's live name they are candidates all the same. Of several (rotated twice
                    # or more while the agent was stopped), the oldest: rotation moves content away from
                    # the live name one step at a time, so the newer ones were live after it.
                    cands = [k for k, o in list(unmatched.items())
                             if (not o.direct or discovery.is_rotated_path(s.family, o.path))
                             and (o.gz or lo.truncated or self._own_inode_left(lo, obs))
                             and self._could_hold_head(s, k, unmatched) and not copies.born_before_cut(self, o, lo, obs)
                             and not (lo.truncated and k in self._waiting_before)]
                    told = self._copy_made_of.get((s.dev, s.ino))
                    # (The copy the holder saw made of it, when a candidate: copies.copy_of_unread_live.)
                    oldest = unmatched[told] if told in cands else copies.oldest([unmatched[k] for k in cands])
                    if oldest is not None:
                        self._attach(lo, unmatched.pop((oldest.st.st_dev, oldest.st.st_ino)), s.offset)

        # 3. new files (or copies of followed ones, left alone)
        # A file waiting to be told apart whose inode a file born since holds (ext4 gives a freed inode to the next
        # file at once) was deleted while it waited: the file there now is another. (Taken for it, the deleted
        # file's loss went unsaid: torture seed 180073.)
        for key in [k for k, born in self._undecided_born.items() if k in self.undecided and k in unmatched
                    and None not in (born, unmatched[k].born) and unmatched[k].born != born]:
            self._undecided_gone(key)
        name_later_copies(self, unmatched, obs)
        if self.first_scan:
            name_rotated_placeholders(self, unmatched)
        families_new = {o.family for o in unmatched.values() if o.family not in self.seen}
        # Rotated files first found at a restart and read whole: of known families, and of families born since the
        # last look (gone.periods_overflowed_while_away tells by them what the rotation deleted meanwhile).
        found_whole: list[Observed] = []
        known_by_path: dict[str, FileState] | None = None  # (other_device's, made at the first new file read from 0)
        # Plain files before compressed ones: a .gz is made from a plain file, which, when still
        # there (held open), must be followed first for the .gz to be proven its copy. Live files
        # first: a copytruncate copy (older: made before the truncation) is proven by its original.
        for key, o in sorted(unmatched.items(), key=lambda kv: (kv[1].gz, not kv[1].direct, kv[1].st.st_mtime_ns)):
            live_at_watch = self.first_scan and self._held_since_listed(key, o)
            if (copies.head_copy_of_grown(self, o) or copies.head_copy_rotated_on(self, o) or copies.is_copy(self, o, now)
                    or self._still_unreadable(o) or copies.prefix_of_a_later_backup(self, o, unmatched)):
                if key not in self.moved:
                    continue
                # Renamed since the listing (a rotation overtaking the scan): looked at again under
                # the name it has now. (Left for the next scan, a backup never seen was deleted by a
                # cleaner meanwhile: its lines lost without a word, torture seeds 367, 1162.)
                found = self._renamed_since_listed(o)
                if found is None:
                    self._listed_copy_of_cut_live(o, obs)
                    gone.listed_then_gone(self, o)
                    continue
                self.moved.discard(key)
                o = found
                if (copies.head_copy_of_grown(self, o) or copies.head_copy_rotated_on(self, o) or copies.is_copy(self, o, now)
                    or self._still_unreadable(o)):
                    continue
            self.undecided.pop(key, None)
            start = 0
            if self.first_scan and o.family in families_new:
                # (A backup listed by a glob of its own, `paths: [app.log*]`, is a family never seen when it was
                # renamed there while followed, and edited while the agent was stopped: read whole, unnamed.)
                if copies.edited_copy_while_away(self, o):
                    continue
                # Its glob looked through at an earlier start: the family was born since (the agent stopped,
                # or busy before its next scan), its backups as new as its live file: all read from 0. (Skipped
                # as history, their lines went without a word: tests/tail/test_attack14_new_family_backups_skipped.py.)
                if not self._looked_through(o.family):
                    if not o.direct and not (live_at_watch and self.read_from == "beginning"):
                        start = -1  # history before the first look: not read
                    elif self.read_from == "end":
                        start = -1
            elif (copies.copied_before_invisible_truncation(self, o) or copies.replaces_deleted(self, o) or copies.edited_copy(self, o)
                  or copies.edited_copy_while_away(self, o)):
                continue
            copies.later_copy_of_cut(self, o, obs)
            copies.copy_before_rotated_on(self, o)
            if o.fd in self._listed_fds and not self._named(o.path, key):
                # Opened as listed, renamed since (the rotation that overtook the scan): read through
                # that descriptor, and, a copy of the live file, it may show the live file cut.
                self._listed_copy_of_cut_live(o, obs)
            if start == 0:
                if known_by_path is None:
                    known_by_path = other_device.known_by_path(self)
                other_device.read_anew(self, o, known_by_path)
            if (self._follow_new(o, start, cut=(o.st.st_dev, o.st.st_ino) in self._cut_told) is not None
                    and self.first_scan and start == 0
                    and (o.family not in families_new or self._looked_through(o.family))):
                found_whole.append(o)
        for f, saved_mtime in self._cut_while_away_unsaid:
            if f.cut_seen or not self._copied_while_away(f, saved_mtime, found_whole):
                # Told by its copy, or only touched: across a stop nothing but a copy tells a cut from a touch (`touch`,
                # a backup tool restoring times: nothing written). Taken for a cut, a touch was a counted loss
                # (tests/tail/test_attack24_touched_quiet_file_read_again.py); a cut whose copy is gone too goes
                # unnamed, as for a header-only log (docs/design.md).
                self._save_placeholder(f)
            else:
                self._cut_before_a_line(f)
        if found_whole:
            news = {(o.st.st_dev, o.st.st_ino) for o in found_whole}
            gone.periods_overflowed_while_away(self, found_whole, [f.path for k, f in self.files.items() if k not in news]
                                               + [lo.state.path for lo in self.loose.values()])
        self.unread_compressed.look(self, {o.family for o in obs.values()} | {lo.state.family for lo in self.loose.values()})
        for fam in families_new:
            self.seen.add(fam)
            self.pending[SEEN_PREFIX + fam] = 1
        if self.first_scan:
            globs = {scan_rules.STARTED_GLOB + g for g in self._globs()}
            for g in globs - self.seen:
                self.seen.add(g)
                self.pending[SEEN_PREFIX + g] = 1
            for g in {x for x in self.seen if x.startswith(scan_rules.STARTED_GLOB)} - globs:
                self.seen.discard(g)  # a glob a reload took out: put back, it looks for the first time
                self.pending[SEEN_PREFIX + g] = None

        self.copies = {k: v for k, v in self.copies.items() if k in unmatched}
        paths = {o.path: o.family for o in obs.values()}
        self.fds.keep_unreadable({o.path: key for key, o in obs.items()})
        blocked = {paths[p] for p in self.unreadable}  # families with a file we cannot look into
        for key, (_since, _path, _other, size) in list(self.undecided.items()):
            o = obs.get(key)
            if o is None:
                # A scan is no snapshot: a file renamed while the names are listed (logrotate
                # shifting backups) is missing from that one listing. Gone only when missing as
                # long as a state must be.
                missed, first = self._undecided_missing.get(key, (0, now))
                self._undecided_missing[key] = (missed + 1, first)
                if missed + 1 < scan_rules.MISSING_SCANS or now - first < scan_rules.MISSING_SECONDS:
                    continue
            elif o.st.st_size >= size:
                self._undecided_missing.pop(key, None)
                continue
            self._undecided_gone(key)
        self._undecided_missing = {k: v for k, v in self._undecided_missing.items() if k in self.undecided}
        self._undecided_born = {k: v for k, v in self._undecided_born.items() if k in self.undecided}
        self._undecided_head = {k: v for k, v in self._undecided_head.items() if k in self.undecided}
        self._save_waiting()

        # 4. loose states nobody has: gone
        # Families of which a file was renamed during this scan, before its bytes could be compared: it
        # may hold one of their contents (a copytruncate copy shifted on by the rotation that overtook
        # the scan), which is then not missing from this scan. (Counted missing, a content was called
        # lost, and its copy read again from 0 as a new file at the next scan: torture seed 99023.)
        renamed = {obs[key].family for key in self.moved if key in obs}
        for fid, lo in list(self.loose.items()):
            if lo.gone_at is not None:
                if lo.unshipped:
                    gone.unshipped_gone(self, lo, now)
                if now - lo.gone_at >= scan_rules.TOMBSTONE_SECONDS:
                    del self.loose[fid]
                    self.families.remove(lo.state.family)
                    self.pending[lo.state.key] = None
                continue
            if lo.state.family in blocked:
                lo.missing = 0  # it may be the unreadable file: not called gone while that is so
                continue
            if gone.unlistable(self, lo.state):
                lo.missing = 0  # its folder cannot be looked into: not called gone while that is so
                continue
            if not self._in_scope(lo.state.family):
                self._out_of_scope(lo, now)
                continue
            if lo.state.family in renamed:
                lo.missing, lo.since = 0, now
                continue
            lo.missing += 1
            if lo.missing < scan_rules.MISSING_SCANS or now - lo.since < scan_rules.MISSING_SECONDS:
                continue
            s = lo.state
            unread = s.size - s.offset
            if s.unmatched and unread <= 0:
                # Out of `paths` when last looked at, and not found now that it is back: it changed
                # while it was not followed (deleted, replaced); nothing was promised meanwhile.
                self.log.info(f"{s.path}: the checkpoint kept while no path matched it fits no file now; forgotten",
                              extra={"path": s.path})
                self._forget(lo)
            elif lo.collapsed:
                self._forget(lo)  # (its blocks cut at the head, or edited: what was unread is in it still, said then)
            elif lo.truncated and (unread := max(s.size, lo.trunc_size) - s.offset) > 0:
                self.ledger.lost(s.path, unread, "were not read: the file was truncated in place (cut back "
                                                 f"{'to ' + str(lo.cut_to) + ' bytes' if lo.cut_to else 'to a size'}) before "
                                                 "they could be read, and no copy of it was found", unknown=True)
                del self.loose[fid]
                self.families.remove(lo.state.family)
                self.pending[s.key] = None
            elif lo.cut_to and lo.unseen_in_lapse:
                # Cut back to a prefix of what was read after a lapse of attention: lines written after the last
                # read went with the cut, unread (exam25d: "had all been read", 0 counted:
                # tests/tail/test_attack25_cut_back_after_lapse_claims_all_read.py). Not for a busy writer alone: a
                # log cut back soon after the agent read all of it is as busy by its mtimes
                # (tests/tail/test_attack5_truncated_to_a_size.py).
                self.ledger.lost(s.path, 0, f"written after the last read (byte {s.offset}) were cut away unread: the "
                                            f"file was cut back in place to {lo.cut_to} bytes, a part of what was "
                                            f"read; {lo.unseen_writes}", unknown=True)
                self._forget(lo)
            elif lo.cut_to:
                # Cut back in place to a prefix of what was read, all of it read: its inode reads on
                # from the cut (check_truncated); what was cut away was shipped. No loss.
                self.log.info(f"{s.path}: what was cut away from it (after byte {lo.cut_to}) had all been read",
                              extra={"path": s.path})
                self._forget(lo)
            elif unread > 0 and gone.gone_unopened(self, lo):
                self._forget(lo)
            elif unread > 0 and gone.nothing_read_maybe_rotated(self, lo):
                self._forget(lo)
            elif gone.read_not_stored(s) and not (lo.never_read or lo.truncated or lo.regrown):
                # (Read before a stop with an output down, to be read again for it: called bytes "written after the
                # last read", or "never read", they were shipped to the other outputs.)
                gone.read_not_stored_gone(self, lo, gone.found_outside(self, lo, paths))
                self._forget(lo)
            elif unread > 0:
                where = gone.found_outside(self, lo, paths)
                # Last seen as the live file and now nowhere: written to after that look, and the files rotated after
                # it gone unseen too (a kill -9 while held back: the next files were the dead agent's descriptors
                # only), so its unread bytes are the least that was lost. (Named as a certain size, 19 KB were named
                # of 550 KB lost: tests/tail/test_attack17_kill9_held_back_loss_size.py.) Found out of the paths, it
                # is named by its size there; last seen live, its writer may write on to it there.
                live = s.path == s.family
                compressed = self.unread_compressed.cause(s.family) if live and not where else None
                written_on = lo.written_on and not live and not where
                if where:
                    unread = gone.unread_outside(lo, where)
                self.ledger.lost(s.path, unread, f"were not read: the file is now {where}, which the source's `paths` do not "
                                                 "match (or `exclude` leaves out)"
                                 + ("; what is written to it there from now on is not read either" if live else "")
                                 if where else
                                 f"were never read: the file could not be opened ({lo.never_read}), and it was deleted "
                                 "(or renamed where the source's `paths` do not reach) while it could not" if lo.never_read else
                                 f"were not read: the file {compressed}" if compressed else
                                 "were deleted, or renamed where the source's `paths` do not reach (another folder, an "
                                 "excluded name), before they could be read"
                                 + ("; what was written to it after it was last looked at, and any file rotated after it, "
                                    "is lost too (how much cannot be known)" if live else "")
                                 + (f"; {gone.WRITTEN_ON}, and that is lost too (how much cannot be known)"
                                    if written_on else ""), unknown=live or written_on or lo.grown_unopened)
                del self.loose[fid]
                self.families.remove(lo.state.family)
                self.pending[s.key] = None
            elif gone.empty_live_rotated(self, lo):
                del self.loose[fid]
                self.families.remove(lo.state.family)
                self.pending[s.key] = None
            elif lo.truncated and not lo.regrown and lo.trunc_size <= s.offset and not lo.unseen_writes:
                # Truncated in place, read to its end at every look before (no growth seen), no copy found: emptied
                # (`truncate -s0`, `: >`: nothing lost), or cut by a copytruncate whose copy is gone, lines written
                # just before the cut then in no file. A write and the cut between two looks are one IN_MODIFY, so
                # which cannot be known: a possible loss, not counted. (Named lost, every emptying of a quiet log
                # read to its end was a false loss: tests/tail/test_attack20_emptied_read_log_false_loss.py.) Not
                # after a lapse of attention or under a busy writer (lo.unseen_writes): lines were cut away unread,
                # counted below (tests/tail/test_attack24_truncated_unread_called_possibly_none.py).
                self.log.warning(f"data possibly lost: an unknown number of bytes (possibly none) of {s.path} written "
                                 "after the last read: the file was truncated in place after it had been read to its "
                                 "end, and no copy of it was found. Emptied (`truncate -s0`, `: >`), nothing is lost; "
                                 "cut by a rotation whose copy is gone (copytruncate, Log4j MaxBackupIndex=0, a writer "
                                 "reopening with O_TRUNC), lines written just before the cut, if any, were in no file "
                                 "the agent could read", extra={"path": s.path, "size_known": False})
                del self.loose[fid]
                self.families.remove(lo.state.family)
                self.pending[s.key] = None
            elif s.path == s.family or lo.truncated:
                # Last seen as the live file (or truncated, whatever its name now), never seen rotated, now nowhere: it went through
                # more rotations than there are backups (while stopped, or closed and far
                # behind), or was truncated in place with no copy. What was written to it after
                # our last look (and any file rotated in between) is gone; how much is unknown.
                where = None if lo.truncated or lo.regrown else gone.found_outside(self, lo, paths)
                replaced = None if lo.truncated or lo.regrown or where else other_device.replaced(s, obs)
                compressed = (None if lo.truncated or lo.regrown or where or replaced
                              else self.unread_compressed.cause(s.family))
                why = ("was truncated in place and no copy of it was found (copytruncate without a copy, Log4j "
                       "MaxBackupIndex=0, a writer reopening with O_TRUNC)"
                       + (f"; {lo.unseen_writes}" if lo.unseen_writes else "") if lo.truncated else
                       "was truncated in place while the agent was away (it is empty now: emptied, or cut by a rotation "
                       "whose copy is gone), and no copy of it was found" if lo.regrown and lo.regrown_empty else
                       "was truncated in place and written again while the agent was away (or deleted and its inode "
                       "given to a new file under its name), and no copy of it was found" if lo.regrown else
                       f"is now {where} (what was read of it is there), which the source's `paths` do not match (or "
                       "`exclude` leaves out): not followed there" if where else
                       replaced if replaced else
                       compressed if compressed else
                       "was rotated away before the rest could be read: deleted (more rotations than backups), or "
                       "renamed where the source's `paths` do not reach (another folder, an excluded name)")
                if compressed and s.family in self.unread_compressed.named_at_start:
                    # (Counted with those backups, named lost this start: one loss, not two.)
                    self.log.warning(f"data lost: an unknown number of bytes of {s.path} written after the last read: "
                                     f"the file {why}", extra={"path": s.path, "size_known": False})
                else:
                    # (Truncated after a look saw it grown past what was read: those bytes at least.)
                    seen = max(0, lo.trunc_size - s.offset) if lo.truncated else 0
                    self.ledger.lost(s.path, gone.unread_outside(lo, where) if where else seen,
                                     "written after the last read: the file " + why, unknown=True)
                if lo.truncated or lo.regrown:
                    del self.loose[fid]
                    self.families.remove(lo.state.family)
                    self.pending[s.key] = None
                else:
                    # Kept as a tombstone, read up to where it was (its loss named now): a file moved out of the
                    # paths, or a symlinked release swapped, and back at a later start (moved back, rolled back) is
                    # found again by what was read of it and read on from there. (Forgotten, it was read again from
                    # its start, every line shipped twice: tests/tail/test_attack25_log_back_under_glob_after_
                    # restart_repeats.py.)
                    s.bury_at_read(clock.wall())
                    lo.gone_at = now
                    self.pending[s.key] = s
            else:
                if lo.written_on and not s.gz:
                    gone.written_on_gone(self, lo)
                gone.tombstone(self, lo, now)
        self._scope = {}  # (a reload makes a new Tailer; this only bounds the cache)
        for folder in [d for d in self.unlistable if d not in self._listed]:
            del self.unlistable[folder]  # (no state waits on it any more)
        self._listed = {}
        self.ledger.escapes(escaped, self.families)
        for folder in sorted(overflowed):
            self.ledger.lost(os.path.join(folder, "*"), 0, "(possible loss): inotify's event queue overflowed, so files "
                                                           f"created and deleted in {folder} meanwhile may have gone unread",
                             unknown=True)
        if self.first_scan:
            held_gone.name_gone_at_start(self)
        if self.holder is not None:
            letting_go.release_held(self, self.holder)
        tombstones.bound(self)
        self._release_found()
        self.first_scan = False
        self._restored_empty = {}

    def _release_found(self) -> None:
        """Forget where the files identified in this run were found once that is no longer needed: their state is
        saved (a stop saves it from there, Tailer.unsaved_states), or forgotten (a tombstone past its bound or its
        hour). Kept until the memo was full: ~0.16-0.3 KiB for each file a rotation made (its key, and the list it was found with)."""
        if len(self.found) <= FOUND_LOOKED_AT:
            return
        saved = self.saved
        known = {x.state.key for x in self.files.values() if x.state is not None}
        for key in self.found.keys():
            if (saved is not None and saved(key) is not None) or (key not in known
                                                                   and key[len(FILE_PREFIX):] not in self.loose):
                self.found.forget(key)

    @staticmethod
    def _cut_when_listed(f: Followed, o: Observed) -> bool:
        """Was the closed followed file `f` listed on its inode, of its birth time (no other file given the inode),
        shorter than what was read of it? Then it was cut before the listing, whatever became of its name since."""
        return (f.state is not None and f.born is not None and o.born == f.born
                and (o.st.st_dev, o.st.st_ino) == (f.dev, f.ino) and o.st.st_size < f.state.offset)

    def _waited_before_the_stop(self, obs: dict[tuple[int, int], Observed]) -> set[tuple[int, int]]:
        """At the first scan after a restart: the files listed now that were waiting to be told apart when the run
        before last looked (the same inode and birth time). A cut they may show came before that look, as for a file
        waiting since an earlier scan of this run (copies.head_copy_of_grown). (Forgotten at a kill -9, the header-only
        .gz of a `create` rotation that had waited was taken for the copy of the live file grown since: a window named
        where no copytruncate ran, torture seeds 300005, 300039, 192102.)"""
        out = set()
        for key, (born, path, other) in self._waiting_saved.items():
            o = obs.get(key)
            if o is not None and (o.born if o.born is not None else birth.born(o.path, o.st.st_ino)) == born:
                out.add(key)
            elif (o is None and path and key not in self.undecided and not path.endswith(ROTATED_AWAY)
                  and held_key(key) not in self.held_before):
                # Not listed: deleted while it waited (or renamed during this listing). It waits again, so that gone
                # it is named as one that goes while this run waits (_undecided_gone). (Forgotten at the restart, a
                # .gz deleted unread went without a word: torture seed 500233, 300 bytes.) Not one the holder held:
                # held_gone names what the holder held, and says what can be told of it.
                self.undecided[key] = (clock.monotonic(), path, other, 0)
                self._undecided_born[key] = born
                self._waited_across.add(key)
        return out

    def _save_waiting(self) -> None:
        """The files waiting to be told apart, with a birth time, kept in the checkpoint while they wait (a file
        system without birth times keeps none: the inode may hold another file at the restart)."""
        for key, (_since, path, other, _size) in self.undecided.items():
            born = self._undecided_born.get(key)
            if born is not None and self._waiting_saved.get(key) != (born, path, other):
                self._waiting_saved[key] = (born, path, other)
                self.pending[waiting_key(key)] = [born, path, other]
        for key in [k for k in self._waiting_saved if self._undecided_born.get(k) != self._waiting_saved[k][0]]:
            del self._waiting_saved[key]
            self.pending[waiting_key(key)] = None

    def _undecided_gone(self, key: tuple[int, int]) -> None:
        """The file `key` was deleted while it waited to be told apart from a copy: named lost, whole."""
        since, path, other, _size = self.undecided.pop(key)
        self._undecided_missing.pop(key, None)
        born = self._undecided_born.pop(key, None)
        head = self._undecided_head.pop(key, None)
        across = key in self._waited_across
        self._waited_across.discard(key)
        if not across and not is_gzip_path(path) and self._compressed_read_since(path, since, born, head):
            # (Gone while this run looked: logrotate `compress` wrote its .gz, read whole from its start since, and
            # deleted it. Counted lost, its lines were delivered from the .gz: a false loss, tort21y's note.)
            self.log.warning(f"data possibly lost: an unknown number of bytes of {path} (the whole file): it was deleted "
                             f"before it could be told apart from {other} (it held no more than their shared first "
                             "line): unread, unless the compressed file of its family read since, which starts as it "
                             "did, holds its lines (nothing tells)", extra={"path": path, "size_known": False})
            return
        if across and not is_gzip_path(path) and any(
                held_gone.compressed_since(fam, born) for fam in self.families.families_of(path)):
            # (Gone while the agent was away: a plain file may live on in a .gz of its family made since, read whole by
            # this run; what was seen of it cannot tell, as for a file the holder held: held_gone.name_gone.)
            self.log.warning(f"data possibly lost: an unknown number of bytes of {path} (the whole file): it was deleted "
                             f"while the agent was away, before it could be told apart from {other} (it held no more "
                             "than their shared first line): unread, unless a compressed file of it read since holds "
                             "its lines (nothing tells)", extra={"path": path, "size_known": False})
            return
        self.ledger.lost(path, 0, f"(the whole file): it was deleted while it could not yet be told apart from "
                                  f"{other} (it held no more than their shared first line), and was not read", unknown=True)

    def _compressed_read_since(self, path: str, since: float, born: int | None, head: tuple[str, int] | None) -> bool:
        """Is a .gz of the family of the waiting plain file `path` (waiting since `since`, born at `born`, its first
        line `head`) followed as read from its start by this run since it began to wait, born after it and starting
        with the same first line: where logrotate `compress` put its lines, as far as what was seen of it tells?"""
        if head is None:
            return False
        lives = set(self.families.families_of(path))
        if not any(self._read_whole_gz.get(live, -1.0) >= since for live in lives):
            return False
        for key, f in self.files.items():
            s = f.state
            if (key in self._rotated_new and f.gz and s is not None and (s.head, s.head_len) == head
                    and (born is None or f.born is None or f.born >= born)
                    and any(self._rotated_in(f, live) for live in lives)):
                return True
        return False

    def _listed_copy_of_cut_live(self, o: Observed, obs: dict[tuple[int, int], Observed]) -> None:
        """`o`, a plain file new under a rotated name, listed by this scan while the live file of its
        family was still the one followed at its live name, and gone from every rotated name before
        its bytes could be compared (the rotation that overtook the scan renamed and compressed it): a
        copy of the live file (`create` renames the live file itself), and listed longer than the
        live file, of which only the head was read, a copy taken before it was truncated and given
        its head again. What was written between the copy and the truncation is in no file: warned
        and counted, as copies.copied_before_invisible_truncation does for a copy it can open. (Its .gz is
        read whole as a new file: nothing of it was read past the head. Unsaid, the window's lines
        went without a word: torture seed 22.)"""
        if o.gz or not self._is_rotated_name(o.path):
            return
        for f in list(self.files.values()):
            s = f.state
            if (s is None or f.family != o.family or f.gz or f.deleted or not s.head_len
                    or s.offset != s.head_len or s.cont):
                continue
            live = obs.get((f.dev, f.ino))
            if live is None or live.path != f.family or live.st.st_size >= o.st.st_size:
                continue
            if copies.born_before(o, f):
                # (Older than the live file: the one before it, renamed by a `create` rotation, no copy of it. Named a
                # window no copytruncate made: torture seed 300059.)
                continue
            f.cut_seen = True
            self.ledger.copytruncate_window(f.family, o.path, "found by the copy, listed longer than the file, which "
                                                              "had been read no further than its first line")
            return

    def _same_followed(self, f: Followed, o: Observed | None) -> tuple[bool, Observed | None]:
        """Step 1 of a scan, for the followed file `f` listed as `o` (None: not listed): is `o` still `f`? A file
        seen deleted does not come back: its inode under a name now is another file. Closed and renamed since the
        listing (the rotation that overtook the scan), it is compared under the name it has now, at this scan
        (returned: the listing compared with), as a loose content is (seed 1268): left to the next scan, a backup with
        lines unread, overtaken at three scans in a row, was deleted by the next rotation and its lines went
        without a word (torture seed 182302). Raises MovedDuringScan when it is under none of its family's
        names."""
        if o is None or f.fh is not None or f.deleted:
            return o is not None and f.fh is not None, o
        try:
            return self.matcher.same_content(f, o), o
        except MovedDuringScan:
            found = self._renamed_since_listed(o)
            if found is None:
                raise
            return self.matcher.same_content(f, found), found

    def _overwritten(self, f: Followed, o: Observed) -> bool:
        """The closed backup `f`, listed as `o` on its inode of the same generation and size but no longer holding
        what was read: overwritten in place (logrotate `shred`)? Then named so (Harvester.overwritten_under). Taken
        for another file on its inode, it was read from its start: the overwrite's random bytes shipped as records."""
        if (not is_identified(f) or f.gz or o.gz or f.path == f.family or o.path == f.family or f.state.gen < 0
                or self.matcher.gen_of(o) != f.state.gen):
            return False  # (another file given its inode, or no generation to tell)
        if f.overwritten:
            return True  # (named already: the next pass, or `shred -u` cutting it, is no other file)
        if o.st.st_size != f.size:
            return False
        with self.fds.reading(o) as fh:
            return fh is not None and self.harvester.overwritten_under(f, fh, o.st.st_size)

    def _renamed_since_listed(self, o: Observed) -> Observed | None:
        """`o`, renamed since this scan listed it, under the name it has now: one of its family's
        rotated names (a rotation renames each backup one step on). None if it is under none."""
        key = (o.st.st_dev, o.st.st_ino)
        for path in discovery.rotated_siblings(o.family):
            at = clock.wall_ns()
            try:
                st = os.stat(path)
            except OSError:
                continue
            if (st.st_dev, st.st_ino) == key and stat_mod.S_ISREG(st.st_mode):
                born = birth.born(path, st.st_ino)
                if born is not None and o.born is not None and born != o.born:
                    return None  # (its inode given to another file since the listing)
                direct = discovery.glob_matches(path, self.patterns, self.exclude, self.base_dir)
                return Observed(path, o.family, direct, st, is_gzip_path(path), at_ns=at, born=born)
        return None

    def _take_own_inode(self, lo: Loose, unmatched: dict[tuple[int, int], Observed], now: float) -> bool:
        """Step 2 of a scan, first for one loose content: is it on the inode it was read from (still,
        or again)? True when that settled it (attached; waiting on an unreadable file; its inode
        given to a copy). Raises MovedDuringScan when the name its inode was listed under holds
        another file by the time it is compared: nothing can be decided then."""
        s = lo.state
        o = unmatched.get((s.dev, s.ino))
        # A content read to its end and gone, or compressed, is not in a shorter plain file on
        # its inode: that is the inode given to another file (ext4 reuses them at once). Nor is
        # a gone file that never held a line (a placeholder: nothing but its inode to match).
        # Nor is a content in a file under a rotated name shorter than what was read: only the
        # live file is truncated (copytruncate), a backup never.
        if (o is not None and s.gz and o.gz and s.offset == 0 and lo.gone_at is None
                and o.st.st_size == s.size and self.matcher.matches(s, o)):
            # A .gz taken but not yet read when the agent stopped (its state holds the compressed
            # size): no read bytes can prove it, but a complete .gz never changes, so its own
            # inode, head and size do. Left loose, it was read again as new and the stale state
            # called lost (tests/tail/test_attack3_gz_false_loss.py).
            del unmatched[(s.dev, s.ino)]
            self._attach(lo, o)
            return True
        if o is not None and s.gen >= 0 and lo.gone_at is None and self.matcher.gen_of(o) not in (-1, s.gen):
            # Its inode holds another file now (ext4 gave it to the next one: a new generation),
            # whatever its head and size say (a shared header, shorter than what was read: it
            # was taken for the file truncated in place, a false copytruncate loss).
            o, lo.reused = None, True
        if o is not None and lo.born is not None and o.born is not None and o.born != lo.born:
            o, lo.reused = None, True  # (the same for a placeholder never opened, by its birth time: seed 1000)
        # (Shorter than what was read on the same inode generation: that very file, cut, whatever its name now.)
        cut = o is not None and not o.gz and o.st.st_size < s.offset and self._same_generation(s, o)
        reused = o is not None and (s.gz or (lo.never_read == scan_rules.MOVED_UNOPENED and self.matcher.at_live_name(o))
                or (lo.gone_at is not None and (
            o.st.st_size < s.offset or not s.head_len)) or (not o.direct and not o.gz and o.st.st_size < s.offset
                                                             and not cut))
        if (o is not None and not o.gz and not reused and not cut and (not s.head_len or o.st.st_size < s.offset)
                and (copies.is_copy(self, o, now) or not s.head_len and s.gen < 0
                     and self.matcher.copy_of_new_live(o, unmatched))):
            # A placeholder has nothing but its inode to match, a state its inode is now
            # shorter than only its head (a shared header): one that now holds a copy of a
            # followed file was given to the copy (ext4 reuses inodes at once). Left to be
            # found elsewhere or called gone; the copy stays unmatched, left alone as a copy.
            # (A placeholder without its inode's generation — never opened — is compared with the
            # live files this scan found too: a copy of one, both new after a restart, was taken
            # by the placeholder and read from 0, the live file as well: torture seed 1208.)
            return True
        if o is not None and not o.gz and not reused and self.matcher.matches(s, o):
            if o.st.st_size < s.offset and self._moved_elsewhere(lo, o, unmatched):
                return True
            if o.st.st_size < s.offset and self.matcher.holds_other(lo, o):
                return True  # (looked for elsewhere, then called gone)
            # Only the head read: inode and head prove nothing when the inode was reused for a
            # copy of a followed file (same header), which is left alone (step 3).
            if not (s.head_len and s.offset <= s.head_len and not self.matcher.head_only_candidate(s, o, unmatched)):
                del unmatched[(s.dev, s.ino)]
                self._attach(lo, o)
                self._cut_while_away(s, o)
                return True
        if o is not None and o.path in self.unreadable:
            del unmatched[(s.dev, s.ino)]  # its inode is there, unreadable: it waits, it is not gone
            lo.missing, lo.since = 0, now
            self._seen_unreadable(lo, o)
            return True
        if (o is not None and not o.gz and s.reread_to and o.path != s.path
                and discovery.is_rotated_path(s.family, o.path) and truncation.reread_edited_while_away(self, lo, o)):
            # (Written back into its inode by an editor while the agent was stopped after a stop with an output down,
            # then rotated: read again, the repeat named, as at its live name. Taken for no content, it was read
            # again whole as a new file, every line repeated, unnamed.)
            del unmatched[(s.dev, s.ino)]
            return True
        if o is not None and not o.gz and o.path == s.path:
            if truncation.edited_while_away(self, lo, o):
                del unmatched[(s.dev, s.ino)]
                return True
            lo.regrown = True  # same name and inode, other bytes: truncated and written again (or reused)
            lo.cut_in_place = s.gen >= 0 and self.matcher.gen_of(o) == s.gen
            lo.regrown_empty = o.st.st_size == 0
            if s.head_len:
                self._regrown_on[(s.dev, s.ino)] = s.fid
        return False

    def _seen_unreadable(self, lo: Loose, o: Observed) -> None:
        """The inode of the loose content `lo`, listed as `o`, cannot be opened (its mode changed while the agent
        was stopped): what it holds past the checkpoint is its size by stat less the offset. Kept (and saved, for the
        next start) with the cause, so that deleted before it could be read it is named a loss of that size that was
        never read for want of permission. (Its size left at the checkpoint's, it was found nowhere and called
        "rotated away", of unknown size, or not named at all: tests/tail/test_attack17_unreadable_deleted_unnamed.py.)"""
        s = lo.state
        lo.never_read = self.unreadable[o.path]
        if o.st.st_size > s.size or o.path != s.path:
            s.size, s.path = max(s.size, o.st.st_size), o.path
            self.pending[s.key] = s

    def _own_inode_left(self, lo: Loose, obs: dict[tuple[int, int], Observed]) -> bool:
        """Is the inode the loose content `lo` was read from listed still, not given to another file
        (a live file cut in place: copytruncate, its content in the copy)? Only then may a plain file
        hold what it held: a rotation renames a file, it does not copy it and delete it, so a content
        whose inode is gone or given to another file was deleted (its compressed form is another
        file). (A same-headed backup took a content of which only the head was read, rotated out past
        the backups while the agent was away: the lines written to it went without a word,
        tests/tail/test_model.py.)"""
        s = lo.state
        key = (s.dev, s.ino)
        if lo.reused or key not in obs:
            return False
        # Its inode already taken at this scan by another content of another generation (a later file
        # ext4 gave it to, found again on it before this one was looked at): given to another file, as
        # _take_own_inode tells of one left unmatched. (Counted as still there, the content took a
        # same-headed backup after a restart, the lines written to it gone without a word.)
        f = self.files.get(key)
        gen = -1 if f is None else f.state.gen if f.state is not None else f.gen
        return s.gen < 0 or gen < 0 or gen == s.gen

    def _cut_while_away(self, s: FileState, o: Observed) -> None:
        """At the first scan after a restart, the live file `o`, just found again on its inode holding
        the content `s`, of which only the head was read: no longer than that head, the same bytes,
        and its mtime moved since it was identified (saved with it). Cut and given its head again
        (copytruncate while the agent was away: its copy holds the head, or its head and lines never
        read), or only touched (`touch`, a backup tool restoring times: nothing written). Across a stop
        nothing tells the two apart but the copy: one holding exactly the head is looked for at this
        scan's step 3 (copies.head_copy_of_grown names the window; one holding more is
        copies.copied_before_invisible_truncation's). Without one it is taken as touched: its new mtime
        is kept. (Told a truncation by its mtime alone, every quiet one-line log touched while the agent
        was stopped was shipped again and warned "possibly lost": tests/tail/
        test_attack24_touched_quiet_file_read_again.py. Left: a header-only log cut with no copy left —
        copytruncate with `rotate 0`, its copy deleted — while the agent was stopped goes unnamed.)"""
        f = self.files.get((o.st.st_dev, o.st.st_ino))
        if (not self.first_scan or f is None or not is_identified(f) or f.gz or s.path != s.family
                or s.cont or not s.head_len or s.offset != s.head_len or o.st.st_size != s.offset
                or not s.mtime or o.st.st_mtime_ns == s.mtime):
            return
        self._head_moved_away.add((o.st.st_dev, o.st.st_ino))
        s.mtime = o.st.st_mtime_ns  # (the next start compares with this one)
        self.pending[s.key] = s

    def _still_unreadable(self, o: Observed) -> bool:
        """Is `o`, at a path that could not be read, still unreadable? Tried again (the name may hold
        another file now: a rotation made a new live file; or the permissions were fixed)."""
        if o.path not in self.unreadable:
            return False
        try:
            self.fds.open_observed(o).close()
        except MovedDuringScan:
            return True  # (another file under the name now: decided at the next scan)
        except OSError as e:
            # Out of descriptors (EMFILE) is the agent's state, not the file's: one the holder holds is followed (its
            # read retried until a descriptor is free, the holder keeping it meanwhile). Left waiting as unreadable,
            # it was not followed, and lost whole without a word once the holder let it go (one family of 40 under
            # nofile=64: tests/tail/test_attack24_many_families_low_nofile_files_unnamed.py, 3 of 3 on main).
            if e.errno in (errno.EMFILE, errno.ENFILE) and o.fd is not None:
                return False
            return o.path in self.unreadable
        return False

    def report_escapes(self, stopping: bool = False) -> None:
        """Report what the holder owes, without a scan: after a storm whose last events came
        after the last scan, the files it could not catch are owed and nothing else may come to
        ask (a scan more at such a moment is no help, and costs a full pass). `stopping`: the
        holder is let go next; what it still has queued or owed is named now (Holder.take_at_stop)."""
        if self.holder is not None:
            escaped = self.holder.take_at_stop() if stopping else self.holder.take_escaped()
            self.ledger.escapes(escaped, self.families)

    def _globs(self) -> list[str]:
        return [os.path.abspath(os.path.join(self.base_dir, os.path.expanduser(p))) for p in self.patterns]

    def _looked_through(self, family: str) -> bool:
        """Did a glob that matches this path look at its folder in an earlier run? Then a file there
        that is new to us was made while the agent was stopped: no history, read from its start."""
        return any(scan_rules.STARTED_GLOB + g in self._started and discovery.glob_matches(family, [g], [], "/")
                   for g in self._globs())

    def _in_scope(self, family: str) -> bool:
        v = self._scope.get(family)
        if v is None:
            # (A compressed file an earlier version read as text is out of scope now: its checkpoint is not lost.)
            v = self._scope[family] = (discovery.could_match(family, self.patterns, self.base_dir)
                                       and not discovery.is_excluded(family, self.exclude)
                                       and family not in self.unread_compressed.matched)
        return v

    def _out_of_scope(self, lo: Loose, now: float) -> None:
        """No path matches `lo`'s family any more (a reload): kept as it is, not looked for, not
        lost; forgotten OUT_OF_SCOPE_SECONDS after it went out of scope (also across restarts)."""
        s = lo.state
        lo.out_of_scope, lo.missing, lo.since = True, 0, now
        wall = clock.wall()
        if not s.unmatched:
            s.unmatched = wall
            self.pending[s.key] = s
        elif wall - s.unmatched >= scan_rules.OUT_OF_SCOPE_SECONDS:
            self.log.info(f"{s.path}: no path has matched it for {scan_rules.OUT_OF_SCOPE_SECONDS / 86400:.0f} days; its "
                          "checkpoint is forgotten (put back, it is read as a new file)", extra={"path": s.path})
            self._forget(lo)
            fam = s.family
            if fam in self.seen and not any(x.state.family == fam for x in self.loose.values()):
                self.seen.discard(fam)  # put back, it is a family never seen (read_from applies)
                self.pending[SEEN_PREFIX + fam] = None

    def _forget(self, lo: Loose) -> None:
        del self.loose[lo.state.fid]
        self.families.remove(lo.state.family)
        self.pending[lo.state.key] = None

    def needs_rescan(self) -> bool:
        """Does a decision wait for another full pass (a state to declare gone, a file too short
        to tell apart, an unreadable file to retry, a held file to take)?"""
        return (self.awaiting_gone() or bool(self.undecided) or bool(self.moved)
                or bool(self.unreadable) or (self.holder is not None and bool(self.holder.held)))

    def awaiting_gone(self) -> bool:
        """Is a checkpointed content in scope neither found nor declared gone yet?"""
        return any(lo.gone_at is None and not lo.out_of_scope for lo in self.loose.values())

    def _readable_size(self, f: Followed, o: Observed) -> int:
        if f.fh is not None and f.gz:
            return f.fh.size()
        return o.st.st_size

    def _renamed(self, f: Followed, new_path: str) -> None:
        if f.path == f.family and new_path != f.family:
            self.rotations += 1
            self.events.rotated()
            self._left_live.add((f.dev, f.ino))
        f.path = new_path
        if f.state is not None:
            f.state.path = new_path
            # Persisted (after the batches already read from it): a restart must know it was
            # rotated, not "the live file, vanished".
            self.pending[f.state.key] = f.state

    def _same_generation(self, s: FileState, o: Observed) -> bool:
        """Is `o`, on the inode `s` was read from, that very file (the same inode generation, where the file system
        keeps one), not a file given its inode since? Then `o` shorter than what was read was truncated in place,
        whatever its name: cut as the live file (copytruncate) and rotated on since, while the agent was away. (Taken
        for another file under a rotated name, "a backup is never truncated", its content was found in its copy and
        the window between the copy and the truncation went unsaid: torture seed 186044.)"""
        return s.gen >= 0 and self.matcher.gen_of(o) == s.gen

    def _moved_elsewhere(self, lo: Loose, o: Observed, unmatched: dict) -> bool:
        """The inode `lo` was read from holds its head but less than was read: truncated in place
        (copytruncate), or the inode given to a new file that shares the head (a layout header)
        after the content was rotated and compressed. When another file holds what was read, the
        content is there (attached to it, True) and `o` is left to be followed as a new file.
        The two cannot be told apart at the live name, so the copytruncate window is warned; under
        another name (rotated on since the cut), when its inode's generation proves it the same file."""
        others = {k: x for k, x in unmatched.items() if k != (o.st.st_dev, o.st.st_ino)}
        found = self._holding_most(lo, others, [])
        if found is None:
            return False
        key, resume = found
        if o.path == lo.state.path or self._same_generation(lo.state, o):
            lo.truncated, lo.trunc_size = True, max(lo.trunc_size, lo.state.size)
        if self._same_generation(lo.state, o):
            # Cut in place: what it holds now is named after the content cut (Followed.after), as when the cut is seen
            # while the agent runs. (Given a fresh name, the shared head made it the content cut's own name, taken,
            # and then the next of the chain: the name of the content the inode held after that cut, whose lines
            # were delivered under it before a kill -9 at the same offsets. tests/tail/test_copy_names.py)
            self._regrown_on[(o.st.st_dev, o.st.st_ino)] = lo.state.fid
        self._attach(lo, unmatched.pop(key), resume)
        return True

    def _holding_most(self, lo: Loose, files: dict[tuple[int, int], Observed],
                      renamed: list[tuple[int, int]]) -> tuple[tuple[int, int], int] | None:
        """Of `files`, the one that holds the most of what was read of `lo` (Matcher.holds_read), and
        the offset to go on from in it. All that was read ends the search; copies that hold less (a
        copytruncate copy made before the reader was past it) are weighed by how much: a file of no
        more than the shared header is such a copy of any content (the truncated file's header given
        again and copied by the next copytruncate), and taken first, the real copy, holding lines
        read, was read again from 0 as a new file (torture seed 7359). Plain files before compressed
        ones: a .gz is made from a plain file which, when still there (held open), must take the
        content for the .gz to be proven its copy. Files renamed since the listing (they cannot
        tell: MovedDuringScan) go to `renamed`. Of the plain files that hold all that was read, the longest: each is
        the content as it was when copied, the longest the last copy (logrotate `copy` twice, then `copytruncate`, while
        the agent was away: the first copy taken, the lines after what was read, in the later copies only, were never
        read, exam30b's tests/tail/test_attack30_two_copies_then_copytruncate_lines_unread.py)."""
        best: tuple[tuple[int, int], int] | None = None
        longest = -1
        for key, o in sorted(files.items(), key=lambda kv: kv[1].gz):
            if longest >= 0 and (o.gz or o.st.st_size <= longest):
                continue  # (a .gz is not decompressed whole to weigh it: a plain file holding all that was read is had)
            try:
                resume = self.matcher.holds_read(lo, o)
            except MovedDuringScan:
                renamed.append(key)
                continue
            if resume is None:
                continue
            if resume >= lo.state.offset:
                best, longest = (key, resume), o.st.st_size
                if o.gz:
                    break
            elif longest < 0 and (best is None or resume > best[1]):
                best = (key, resume)
        return best

    def _holding_all(self, lo: Loose, unmatched: dict[tuple[int, int], Observed]) -> None:
        """`lo`, read past its head, could not be compared with its own inode (listed under a name that holds another
        file now): nothing is decided from that inode at this scan, but a file holding all that was read of it, proven
        by its bytes, is its copy (its `.gz`, made by a rotation while its inode was given to the writer's next file):
        taken now. (Left to the next scan, a content of which only the shared header was read took that `.gz` as its
        one candidate and read it on from after the header: 23 lines twice, torture seed 193254. A file holding less,
        a copy made before the reader was past it, is no proof while the content may still be on its own inode:
        taken, a header-only `.gz` had it read again from after the header, torture seed 194263.)"""
        renamed: list[tuple[int, int]] = []
        holding = self._holding_most(lo, unmatched, renamed)
        self.moved.update(renamed)
        if holding is not None and holding[1] >= lo.state.offset:
            self._attach(lo, unmatched.pop(holding[0]), holding[1])

    def _could_hold_head(self, s: FileState, key: tuple[int, int], unmatched: dict[tuple[int, int], Observed]) -> bool:
        """Could the file `unmatched[key]` hold the content `s`, of which no more than the head was read
        (Matcher.could_hold_head)? One opened as listed and renamed or deleted since (the rotation that overtook
        the scan: _renamed_since_held) is compared through the descriptor that listed it, which holds it still —
        unless the head is one the family's files share (a header): then the next scan decides (torture seed
        439). (No candidate, a content truncated in place of which only its first line was read was said lost,
        "no copy of it was found", and step 3 read its copy, renamed or deleted since the listing, from 0 as a
        new file through that same descriptor: that line twice, silently, torture seeds 150551, 180229.)"""
        o = unmatched[key]
        if self._renamed_since_held(key, o) and self._head_shared(s):
            return False
        return self.matcher.could_hold_head(s, o, unmatched)

    def _head_shared(self, s: FileState) -> bool:
        """Does another content known of the family of `s` start with the same head (a layout or CSV header
        every file of it has)?"""
        others = [f.state for f in self.files.values() if f.state is not None] + [lo.state for lo in self.loose.values()]
        return any(x.fid != s.fid and x.family == s.family and x.head == s.head for x in others)

    def _is_rotated_name(self, path: str) -> bool:
        return self.families.has_rotated_name(path)

    def _lives_of(self, path: str, family: str) -> set[str]:
        """The live families a file at `path` (of `family`) is a rotated file of: its family, when
        found as a rotated name of it, and the followed families whose rotated name it has — a glob
        that lists the backups (`paths: [app.log*]`) makes each a family of its own. (Taken for its
        own family's only, a backup read whole after a restart did not hold the lines of the live
        file empty at the stop: "rotated away", a false counted loss per empty live file rotated
        while stopped: tests/tail/test_attack9_glob_backups_empty_rotations_false_loss.py.)"""
        lives = set(self.families.families_of(path))
        if path != family:
            lives.add(family)
        return lives

    def _rotated_in(self, f: Followed, family: str) -> bool:
        """Is `f` under a rotated name of the live `family` (see _lives_of)?"""
        return family in self._lives_of(f.path, f.family)

    def _attach(self, lo: Loose, o: Observed, resume: int | None = None) -> None:
        """Follow the loose content `lo` in the file `o`. `resume`: where to go on reading when
        `o` was matched by content (a copy shorter than what was read ends there)."""
        s = lo.state
        del self.loose[s.fid]
        self.families.remove(s.family)
        # Waiting to be told apart (first seen holding no more than a shared first line: a copy being written), it is
        # told now: it holds this content. (Left waiting, deleted later it was named lost whole, though all it held was
        # read: tests/tail/test_attack27_copy_seen_while_written_false_loss.py.)
        self.undecided.pop((o.st.st_dev, o.st.st_ino), None)
        # (A compressed form on its own inode, given to the .gz when it was freed, is another file too.)
        moved = (o.st.st_dev, o.st.st_ino) != (s.dev, s.ino) or o.gz != s.gz
        if moved and other_device.remounted(s, o):
            other_device.continuing(self, s, o, s.offset if resume is None else resume)
        if s.gone or s.unmatched:
            s.gone = s.unmatched = 0.0  # followed again (a tombstone's content found, or its path back in scope)
            self.pending[s.key] = s
        if s.head_len and o.path != s.path:
            # Found under another name (renamed while the agent was stopped): saved so, as _renamed
            # does. A checkpoint left naming the old name (a backup met as a family of its own,
            # `paths: [app.log*]`) was later taken for "the live file, rotated away" when deleted.
            self.pending[s.key] = s
        if not moved and s.head_len and s.gen >= 0 and (gen := self.matcher.gen_of(o)) not in (-1, s.gen):
            # Its content proven on its own inode number of another generation: a file-level copy
            # of the volume onto a fresh file system (cp -a, rsync -a, a restore) numbers the copies
            # as the originals were. Kept at the old generation, the reader took the file for
            # another one given the number and never read it, and the next scan let the content
            # loose and attached it again, for good, without a word (test_attack10_log_volume_copied.py).
            s.gen = gen
            self.pending[s.key] = s
            self.log.info(f"{o.path} holds what was read of it on a new inode of the same number (the volume "
                          "copied file by file, or restored): read on from where it was read to",
                          extra={"path": o.path, "offset": s.offset})
        if moved:
            cut_in_place = lo.cut_in_place and not s.gz
            if cut_in_place:
                copied = copies.copy_len(self, o)
                if s.head_window and copied == s.window_copy_len():
                    # (Its window named with this copy of its head, or the copy's .gz, before a kill -9: named again
                    # as its inode was read, one copytruncate was two windows, torture seed 400238.)
                    self._window_told_in_copy.add((s.dev, s.ino))
                else:
                    self._left_in_copy[(s.dev, s.ino)] = (o.path, copied)
            cut = (s.dev, s.ino)
            s.dev, s.ino, s.gz, s.gen = o.st.st_dev, o.st.st_ino, o.gz, self.matcher.gen_of(o)
            if lo.truncated:
                gone.copytruncate_loss(self, lo, o, resume)
            if lo.truncated or cut_in_place and s.offset > s.head_len:
                # Each backup made after this copy is a later copytruncate's, its window named too
                # (copies.later_copy_of_cut); also for a cut found while the agent was away that left no head of its
                # own (the writer's next line, no header: its window is named as its inode is read,
                # harvester.cut_after_copy; the later ones went unnamed, tests/tail/test_attack25_copytruncates_
                # while_stopped_writer_keeps_writing.py). Not when no more than a shared header was read of it: the
                # oldest backup with that header takes it, a guess, and the backups newer than it were named later
                # windows, one window twice (torture seed 184).
                self._cut_copied[s.family] = o
                self._cut_files[cut] = s.family
            if resume is not None and resume < s.offset:
                # A copy that ends before what was read: all of it was read; it is done. (Its
                # mark is taken from its own bytes below.)
                s.offset, s.cont = resume, False
                s.earlier = [e for e in s.earlier if e[0] < resume]
                s.spaced = [e for e in s.spaced if e[0] <= resume]
        elif s.path == s.family and o.path != s.family:
            self._left_live.add((o.st.st_dev, o.st.st_ino))  # (on its own inode, rotated while the agent was away)
        s.path = o.path
        if o.gz and s.head_len:
            self._tell_holder_gz(o, False)  # (a content read, proven in it: its copy)
        if moved or o.gz or lo.truncated:
            # (A size looked at is its inode's, before any cut found: a copy of the content may be shorter, and whole.)
            s.looked = 0
        f = Followed(o.path, s.family, o.st.st_dev, o.st.st_ino, o.gz, state=s, size=o.st.st_size,
                     mtime_ns=o.st.st_mtime_ns, seen_size=o.st.st_size, held_fd=o.fd, settled=o.settled,
                     cut_seen=s.cut, looked_size=s.looked)
        if (k := self.kept.pop(s.key, None)) is not None and not (moved or o.gz or lo.truncated):
            looks.resume(f, k)
        self._go_on_idle(f, o)
        if s.head_len == 0:  # a placeholder: the file had no identity yet
            if moved:
                return  # not matched by content
            f.state, f.start, f.gen = None, s.offset, s.gen
            f.after = self._regrown_on.get((s.dev, s.ino)) or s.after  # (copy_names.name_copies_of_placeholders)
            self.files[(f.dev, f.ino)] = f
            self.families.add(f.family)
            if self._cut_empty_while_away(s, f):
                self._cut_while_away_unsaid.append((f, s.mtime))
            self.identify(f)
            return
        self._load_tail(f, s)
        self.files[(f.dev, f.ino)] = f
        self.families.add(f.family)
        if moved:
            if resume is not None and s.offset == resume:
                s.mark = digest(f.tail) if s.offset else ""
            self.pending[s.key] = s

    def _tell_holder_gz(self, o: Observed, new: bool) -> None:
        """Tell the holder what the compressed file `o` is to this tailer: read as new content from its start (`new`),
        or a content known already (Holder.gz_decided: only a new one catches a file whose creation it counted)."""
        if self.holder is not None:
            gen = self.matcher.gen_of(o)
            self.holder.gz_decided((o.st.st_dev, o.st.st_ino), None if gen < 0 else gen, new)

    def _load_tail(self, f: Followed, s: FileState) -> None:
        """f.tail: the bytes of `f` before the offset of its state `s`."""
        n = min(MARK_MAX, s.offset)
        if not n:
            f.tail = b""
            return
        try:
            fh = self.fds.open(f)
            f.tail = fh.read(s.offset - n, n)
        except OSError:
            f.tail = b""

    @staticmethod
    def _go_on_idle(f: Followed, o: Observed) -> None:
        """A file a restarted source's predecessor had open is idle since that one last read it, not
        since the restart, and known deleted now, not at a scan to come: a deleted one read to its
        end is let go DELETED_GRACE after its last read (at the next look at idle files), as
        without the reload. (Idle from each restart, and deleted only for a scan that no event
        brought, a file rotated away and deleted stayed open while reloads came less than
        DELETED_GRACE apart, handed from source to source: 21 -> 131 descriptors over 400 reloads
        0.3 s apart, their disk space kept.)"""
        if o.active_at is None:
            return
        f.active_at = min(f.active_at, o.active_at)
        if o.st.st_nlink == 0:
            f.deleted, f.deleted_seen = True, (o.st.st_size, o.st.st_mtime_ns)

    def _follow_new(self, o: Observed, start: int, cut: bool = False, after: str = "") -> Followed | None:
        """`cut`: its inode starts again after a truncation told (Followed.cut_seen); `after`: the file id of
        the content it held before (Followed.after; found truncated at this scan's step 2 without it)."""
        key = (o.st.st_dev, o.st.st_ino)
        f = Followed(o.path, o.family, o.st.st_dev, o.st.st_ino, o.gz, size=o.st.st_size,
                     mtime_ns=o.st.st_mtime_ns, seen_size=o.st.st_size, held_fd=o.fd, settled=o.settled,
                     copied_to=self._left_in_copy.get(key), cut_seen=cut or key in self._window_told_in_copy, born=o.born,
                     after=after or self._regrown_on.get(key, ""), named=self._copy_names.get(key, ""),
                     hole_of=self._hole_of.get(key, -1))
        self._go_on_idle(f, o)
        if f.copied_to is not None and o.st.st_size == 0:
            # Cut in place, its content found in a copy, and empty: no read will come to tell the
            # window by (left to one, it went unsaid while the writer was quiet, and for good when
            # the file was rotated away empty: test_attack8_copytruncate_while_stopped_silent.py).
            self.harvester.cut_after_copy(f, [])
        f.start = o.st.st_size if start < 0 else start
        if o.gz and start < 0:
            try:
                f.start = self.fds.open(f).size()
            except OSError:
                return None
        self.files[(f.dev, f.ino)] = f
        self.families.add(f.family)
        lives = self._lives_of(o.path, o.family) if f.start == 0 else set()
        if lives and (end := tombstones.end_of_forgotten(self, o, lives)) is not None:
            f.start, lives = end, set()  # (a content read to its end before, restored)
        if o.gz:
            self._tell_holder_gz(o, f.start == 0)
        told = bool(o.gz and lives) and tombstones.copy_of_forgotten(self, o, lives)
        if lives:
            for live in lives:
                self._read_whole_rotated[live] = clock.monotonic()
                if o.gz:
                    self._read_whole_gz[live] = self._read_whole_rotated[live]
            self._rotated_new.add((f.dev, f.ino))
        if not self.identify(f):
            # Read from its start once it has a line, unless it is a copy: one found as logrotate
            # created it, empty, was read whole once filled (every line of it twice, and the
            # truncated live content called lost with no copy found: tests/tail/test_identity.py).
            f.unproven = f.start == 0 and not f.gz and self.families.has_rotated_name_anywhere(f.path)
            # No identity yet: a placeholder keyed by inode, so that a restart still knows
            # this file was the live one (and can say so if it vanishes unread).
            ph = self.matcher.placeholder(f)
            try:
                # Its inode's generation: after a restart, the inode given to the next file (ext4
                # reuses a freed one at once) is not taken for it (a file that went unread, silently).
                ph.gen = f.gen = inode_gen(self.fds.open(f))
            except FileNotFoundError:
                f.unopened = True  # (its name holds another file now, or none)
            except OSError:
                pass
            self._put_placeholder(f, ph)
        elif lives and not told:  # (plain too: a restore by `cp` of part of a content, unsaid before)
            tombstones.head_of_forgotten(self, f, lives)
        return f

    def identify(self, f: Followed) -> TypeGuard[Identified]:
        """Give a new file its identity once it has a head. False if it has none yet."""
        if f.state is not None:
            return True
        if f.unproven and not f.deleted:
            return False  # (a scan first: see Followed.unproven)
        try:
            fh = self.fds.open(f)
            head = head_of(fh.head())
            if head is not None and not head.strip(b"\0") and not f.gz:
                # Zeros to its end: a mapped or preallocated file nothing is written to yet
                # (Log4j 2's MemoryMappedFile). Its head is what comes into them: no identity yet.
                after = fh.data_after(len(head))
                size = fh.stat().st_size
                if after is not None and after >= size:
                    if not f.zeros:  # (said once per file: it may wait long)
                        self.log.info(f"{f.path} holds only zero bytes ({size} so far): a preallocated or memory-mapped "
                                      "file nothing has been written into yet; its lines are read as they are written",
                                      extra={"path": f.path, "size": size})
                    f.zeros = True
                    return False
        except OSError:
            return False
        if head is None:
            return False
        start = f.start
        if start > 0 and f.size >= start:
            # Skipped history must end on a line boundary, or the first record would be half a line.
            fh = self.fds.open(f)
            back = fh.read(max(0, start - self.max_line), min(start, self.max_line))
            cut = back.rfind(b"\n")
            if cut >= 0:
                start = start - len(back) + cut + 1
            elif len(back) == start:
                start = 0  # no line was complete at the first look: the first line is read whole
        opened = self.fds.open(f)
        gen = inode_gen(opened)
        fid = f.named or file_id(f.dev, f.ino, head, gen, f.after)
        # A name in use is not given again (the same inode and head back as other content, its
        # truncation not seen as one): named after the one in use, as after a truncation.
        taken = self._fids_in_use
        if not taken:  # (outside a scan, or its first identification: collected; then kept up by this scan)
            taken = {x.state.fid for x in self.files.values() if x.state is not None} | self.loose.keys()
            if self._fids_in_use is not None:
                # During a scan the names in use are collected once, not at each new file (10,000 new files:
                # a third of the first look). A name let go since is still taken for in use: the next name
                # of the chain is given then, never one in use.
                self._fids_in_use = taken
        while fid in taken or fid in self.loose or fid in self.forgotten.ids:
            fid = file_id(f.dev, f.ino, head, gen, fid)
        taken.add(fid)
        self._put_placeholder(f, None)  # the inode-only placeholder, if any
        f.state = FileState(fid=fid, dev=f.dev, ino=f.ino, head_len=len(head), head=digest(head),
                            offset=start, mark="", path=f.path, family=f.family, size=f.size, gz=f.gz,
                            gen=gen, cut=f.cut_seen, mtime=opened.stat().st_mtime_ns, after=f.after,
                            looked=f.looked_size)
        self._load_tail(f, f.state)
        f.state.mark = digest(f.tail) if start else ""
        if not start and not f.gz:
            f.state.ahead = self.matcher.ahead_mark(fh, len(head))
        self.pending[f.state.key] = f.state
        self.found.remember(f.state.key, (f.state.offset, f.state.mark, f.state.ahead))
        return True

    def _unfollow(self, f: Followed, keep_loose: bool = True) -> None:
        if self.files.pop((f.dev, f.ino), None) is not None:
            self.families.remove(f.family)
        f.window = b""
        if f.fh is not None:
            f.fh.close()
            f.fh = None
        if f.state is not None and keep_loose:
            lo = Loose(f.state, grown_unopened=f.grown_unopened)
            if (f.deleted or f.unnamed) and f.at_eof:
                # Read to its end through the descriptor (moved away, it is no loss either).
                gone.tombstone(self, lo, clock.monotonic())
            self.loose[f.state.fid] = lo
            self.families.add(lo.state.family)

    def _check_cut(self, f: Followed) -> None:
        """A scan's first look at a followed file: content cut under our offset (check_truncated, open), or
        rewritten before anything of it was read (open or closed: truncation.rewritten_unseen)."""
        if f.fh is not None and is_identified(f):
            if not truncation.check_truncated(self, f) and truncation.rewritten_unseen(self, f):
                truncation.check_truncated(self, f, force=True)
        elif f.state is None and truncation.rewritten_unseen(self, f):
            self._cut_before_a_line(f)

    def _cut_before_a_line(self, f: Followed) -> None:
        """`f`, with no identity yet (no complete line in it when last looked at), was written and cut since: what
        was written is lost, how much is unknown. Its placeholder is saved again with the mtime that told it (a
        restart says it once more otherwise: _cut_empty_while_away)."""
        self.ledger.lost(f.path, 0, "were written to it and cut away (truncated in place: a copytruncate rotation, "
                                    "or a writer reopening it with O_TRUNC) before a complete line of it was read; "
                                    "a copy, if one was made, is read as a new file, what was written after the "
                                    "copy is in no file (rotate with `create` to lose nothing)", unknown=True)
        f.start, f.cut_seen = 0, True
        self._save_placeholder(f)

    def _save_placeholder(self, f: Followed) -> None:
        ph = self.matcher.placeholder(f)
        ph.gen = f.gen
        self._put_placeholder(f, ph)

    def _put_placeholder(self, f: Followed, ph: FileState | None) -> None:
        """The checkpoint of `f`'s inode-only placeholder, `ph` (None: dropped). Not where a loose placeholder of another
        file holds that key (`i<dev>-<ino>`): a file never opened whose inode was given to `f` since, told apart by its
        birth time (Loose.reused). Overwritten or dropped, it was forgotten at the next restart, and the lines it stood
        for, deleted unread, went without a word (torture seed 194215)."""
        key = ph.key if ph is not None else self.matcher.placeholder(f).key
        lo = self.loose.get(key[len(FILE_PREFIX):])
        if lo is not None and lo.reused and lo.gone_at is None and not lo.state.head_len:
            return
        self.pending[key] = ph

    def _cut_empty_while_away(self, s: FileState, f: Followed) -> bool:
        """At the first scan after a restart, the live file `f`, found again on its inode with no identity yet (its
        placeholder `s`, saved empty): is it empty still, its mtime moved since it was saved? An append-only file
        written to grows; one that did not was written and cut (copytruncate while the agent was away: its copy
        holds what was written before the copy, what came after it is in no file). Told at the scan's step 3 as
        truncation.rewritten_unseen tells it while the agent runs, unless a copy told it (copies.empty_copy_of_grown,
        naming the copy). (The placeholder kept no mtime: unsaid, torture seed 193132.)"""
        return (self.first_scan and not f.gz and f.path == f.family and s.path == s.family and bool(s.mtime)
                and not (s.offset or s.size or f.seen_size) and f.mtime_ns != s.mtime)

    @staticmethod
    def _copied_while_away(f: Followed, saved_mtime: int, found_whole: list[Observed]) -> bool:
        """Did this first scan find, under a rotated name of `f`'s family, a new file written after `f`'s placeholder
        was saved (its mtime later)? The copy a copytruncate made of what was written to `f` before cutting it."""
        return any(o.family == f.family and o.path != f.family and o.st.st_mtime_ns > saved_mtime for o in found_whole)

    def may_open(self, f: Followed) -> bool:
        """May `f` be opened to be read now (its descriptor is open, or may be opened by its name)?"""
        if f.fh is None and f.state is not None and f.state.offset <= f.size <= max(f.state.offset, f.read_to) and not f.gz:
            return False  # closed and not grown since: nothing to open it for (shorter, it was cut: looked at)
        if f.fh is None and (f.dev, f.ino) in self.moved:
            # Closed, and this scan could not compare its bytes (renamed during it): only a scan may
            # reopen a closed file, as its inode may hold another file now. (Opened by its old name,
            # which a rotation had given its inode again, another .gz was read on from the old offset.)
            return False
        return True

    def could_follow(self, path: str) -> bool:
        if discovery.is_excluded(path, self.exclude):
            return False
        if discovery.could_match(path, self.patterns, self.base_dir):
            return True
        return self._is_rotated_name(path)  # of a family followed (or waiting to be found again): worth a scan




