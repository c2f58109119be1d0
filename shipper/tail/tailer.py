"""The file follower: what a file source drives. A scan finds the files and says which is which
(prospector.py, with matching.py's proofs); the files are read from their checkpoints
(harvester.py); what could not be read is said loudly (losses.py). This module ties them together:
the follower's API (scan, read_all, read_changed, read_unwatched, close_idle, flush, status).

Knows nothing of parsers, outputs or the pipeline: it hands `Chunk`s (lines + the checkpoint
fragment that is true once they are delivered) to a callback, which may block (backpressure).
"""
from __future__ import annotations

import logging
import os
from typing import Any, Callable, Collection, Iterable, Mapping

from shipper.tail import clock, clock_watch, copies, held_record, letting_go, looks, truncation
from shipper.tail.checkpoint_queue import CheckpointQueue
from shipper.tail.events import TailEvents
from shipper.tail.followed import Followed, Loose, is_identified
from shipper.tail.harvester import Chunk, Harvester
from shipper.tail.holder import Holder, generation
from shipper.tail.losses import LossLedger
from shipper.tail.prospector import Prospector
from shipper.tail.reader import OpenFile
from shipper.tail.scan_rules import STARTED_GLOB
from shipper.tail.state import FILE_PREFIX

__all__ = ["Chunk", "STARTED_GLOB", "Tailer"]


class Tailer:
    """Follows the files of one source: the prospector's followed set, read by the harvester."""

    def __init__(
        self,
        patterns: list[str],
        exclude: list[str],
        base_dir: str,
        state: dict[str, Any],
        *,
        read_from: str = "beginning",
        max_line_bytes: int = 1 << 20,
        close_inactive: float = 300.0,
        batch_lines: int = 1000,
        logger: logging.Logger | None = None,
        events: TailEvents | None = None,
        max_open: int | None = None,
        saved: Callable[[str], Any] | None = None,
    ):
        self.log = logger or logging.getLogger("shipper.tail")
        self.events = events or TailEvents()
        self.ledger = LossLedger(self.log, self.events, kept_in=copies.whole_copy)
        self.pending = CheckpointQueue()  # checkpoint-only fragments waiting to be emitted
        self.harvester = Harvester(max_line_bytes=max_line_bytes, batch_lines=batch_lines, events=self.events,
                                   ledger=self.ledger, pending=self.pending, log=self.log)
        self.prospector = Prospector(patterns, exclude, base_dir, state, read_from=read_from,
                                     max_line_bytes=max_line_bytes, close_inactive=close_inactive, log=self.log,
                                     events=self.events, ledger=self.ledger, pending=self.pending,
                                     harvester=self.harvester, max_open=max_open, saved=saved)
        # What the run before held by itself (its holder's entries in the checkpoint): the first scan names those
        # deleted meanwhile (held_gone.name_gone_at_start).
        self.prospector.held_before = held_record.held_before(state)
        # The sizes looked at saved in entries of their own (looks.to_keep), by their state's key; those of states gone
        # deleted with the first batch.
        self._looks_kept, gone = looks.kept_at_start(state)
        self.pending.update(gone)
        self._saved_of = saved
        # The entries of what the holder holds by itself, saved with this tailer's checkpoints (kept past the
        # holder's stop: the stop's flush deletes them).
        self._held: held_record.HeldRecord | None = None
        self.fds = self.prospector.fds
        self.files: dict[tuple[int, int], Followed] = self.prospector.files  # (the same dicts: read, never replaced)
        self.loose: dict[str, Loose] = self.prospector.loose
        # (device, inode) of the deleted files a stop's let-go named lost (bury_let_go): what the stop saves next
        # (unsaved_states) saves them gone, also those followed through a descriptor of the holder, closed now. None
        # until that let-go has run (a stop during a reload's wait lets go after it saves: FileSource.close).
        self._named_at_let_go: set[tuple[int, int]] | None = None
        # run --once: (device, inode) → the size a file had when this run first met it, read up to there and no
        # further (None: a daemon, which follows every file on). Set by the source before its first read.
        self.read_bounds: dict[tuple[int, int], int] | None = None
        # The caller's watcher: its events queued now noted (noted()), before each look of this thread at a file (a
        # read's, the looks while held); None without one. (Called with the caller's lock held: from a read.)
        self.drain_events: Callable[[], None] | None = None

    @property
    def holder(self) -> Holder | None:
        """The holder of rotated files, when the caller runs one (its descriptors are opened through)."""
        return self.fds.holder

    @holder.setter
    def holder(self, holder: Holder | None) -> None:
        self.fds.holder = holder
        if holder is not None:
            self._held = holder.record

    @property
    def unreadable(self) -> dict[str, str]:
        """Matched files that cannot be opened: path -> error."""
        return self.fds.unreadable

    @property
    def undecided(self) -> dict[tuple[int, int], tuple[float, str, str, int]]:
        """Files that may be copies but are too short to tell (Prospector.undecided)."""
        return self.prospector.undecided

    @property
    def undecided_read(self) -> int:
        """Files read as new after waiting UNDECIDED_SECONDS to be told apart from a copy."""
        return self.prospector.undecided_read

    @property
    def rotations(self) -> int:
        return self.prospector.rotations

    @property
    def tombstones(self) -> int:
        """Contents read to their end and gone that it remembers (at the last scan's end: tombstones.bound)."""
        return self.prospector.tombstones_held

    # ------------------------------------------------------------------ scanning (the prospector's)

    def scan(self) -> None:
        """Look at the file system once and bring the followed set up to date."""
        self.prospector.scan()
        self._queue_held()

    def held_named(self) -> None:
        """The checkpoint's entries of what a holder held are this process's own (a source a reload restarted, whose
        predecessor named what it let go; a look ahead, which names nothing): deleted at the first scan, not named."""
        self.prospector.held_name = False

    def _queue_held(self) -> None:
        """The holder's entries not saved yet, and the deletion of those it let go (held_record.py), into the
        checkpoint queue: they go out with the next batch, beside the states of the files it took."""
        if self._held is not None:
            self.pending.update(self._held.take_changes())

    def needs_rescan(self) -> bool:
        return self.prospector.needs_rescan()

    def awaiting_gone(self) -> bool:
        return self.prospector.awaiting_gone()

    def report_escapes(self, stopping: bool = False) -> None:
        self.prospector.report_escapes(stopping)

    def close_idle(self) -> None:
        letting_go.close_idle(self.prospector)

    def unwatched(self) -> list[Followed]:
        """The followed files inotify cannot report writes to: deleted while open, moved away
        (still open), or known only by a descriptor (their name gone). Without any, an idle
        caller need not wake to read."""
        return [f for f in self.files.values()
                if f.deleted or f.unnamed or f.zeros or f.held_fd is not None or f.path.endswith(" held open)")
                or f.gz_cut is not None and not f.gz_cut_told]  # (a cut .gz: read until its cut is told)

    def read_unwatched(self, emit: Callable[[Chunk], None], stop) -> None:
        """Read the files of unwatched()."""
        emit = self.prospector.lapses.timed(emit)  # (a hand-over that waits is a lapse of attention)
        todo = self.unwatched()
        self.flush(emit)
        for f in sorted(todo, key=lambda f: (f.family, f.mtime_ns, f.path)):
            if stop.is_set():
                break
            if (f.dev, f.ino) in self.files:
                self._read_file(f, emit, stop)
        self.flush(emit)
        self.attest()

    def attest(self) -> None:
        """After a lapse of attention: the files it left untouched are proven so (attention.Lapses.attest)."""
        self.prospector.lapses.attest(self.files.values())

    def look_at_all(self) -> None:
        """Every followed file looked at (look_at), while the reader is held in a hand-over (the file source's
        looking_while_held): a file cut back above what was read meanwhile ends short of the size seen at the next
        read, a named loss (looks.py). The watcher's events are noted first: what it saw before this look is known to
        come before it (truncation.cut_back_unseen)."""
        if self.drain_events is not None:
            self.drain_events()
        self.look_at({f.path for f in self.files.values()})

    def look_at(self, paths: set[str]) -> None:
        """The followed files at `paths` (written to, not read yet: the watcher's gather window begins; or all, while
        the reader is held) looked at: each one grown past what its reads saw keeps that size, so a cut before the
        next read is a counted loss of those bytes at least ("N bytes or more"), not a possible one
        (tests/tail/test_attack25_gather_window_cut_possibly_none.py: 50 lines written and cut inside a 3 s window were
        "possibly none"); a cut above the read position, by the next read (looks.py); one cut back to the size it had
        at the look before, at once (truncation.cut_back_unseen). The watcher's events up to now were noted (noted())."""
        paths = paths | {f.path for t, f in self._by_target().items() if t in paths}
        for f in list(self.files.values()):
            if f.path in paths and f.fh is not None and not f.gz:
                size = looks.look(f, ordered=True)
                if size > f.size:
                    f.size = size
                if f.cut_back_at >= 0 and is_identified(f):
                    truncation.cut_back_unseen(self.prospector, f)

    @staticmethod
    def wake_after_lapses(wake: Callable[[], None], on: bool = True) -> None:
        """Have `wake` (thread-safe) called when the process was stopped or frozen and runs again (or no more, `on`
        False): the caller then calls attest() at once."""
        (clock_watch.add_waker if on else clock_watch.remove_waker)(wake)

    def known_open(self) -> set[tuple[int, int]]:
        return {k for k, f in self.files.items() if f.fh is not None}

    # ------------------------------------------------------------------ reading

    def read_all(self, emit: Callable[[Chunk], None], stop) -> bool:
        """Read every followed file to its end, oldest first. True if any line was emitted."""
        emit = self.prospector.lapses.timed(emit)  # (a hand-over that waits is a lapse of attention)
        self.flush(emit)
        got = False
        order = sorted(self.files.values(), key=lambda f: (f.family, not f.deleted, f.mtime_ns, f.path))
        for f in order:
            if stop.is_set():
                break
            if (f.dev, f.ino) not in self.files:
                continue  # unfollowed while reading an earlier one
            got = self._read_file(f, emit, stop) or got
        self.flush(emit)
        self.attest()
        return got

    def noted(self, written: Iterable[str], touched: Iterable[str], overflowed: bool) -> None:
        """A batch of the watcher's events, as it takes them (before the looks that follow them): files written to,
        files touched (their times changed), events dropped. A touch is then not taken for a cut by the next scan
        (touches.py). Each followed file written to or touched counts it (Followed.writes, .touches): the next look
        knows whether it was written to since the look before (looks.stat)."""
        written, touched = set(written), set(touched)
        self.prospector.touches.note(written, touched, overflowed)
        # (Found by the inode each path reaches: a batch names a few paths, and there are several batches a wake.)
        for path in written | touched:
            try:
                st = os.stat(path)
            except OSError:
                continue
            f = self.files.get((st.st_dev, st.st_ino))
            if f is not None and f.path == path:
                # (Events come by name: once the name holds another file — a `create` rotation's new log, chmodded
                # and written before a scan renamed f — they are not f's. Taken for f's, each create rotation after
                # a restart was "data possibly lost … cut back": test_attack25_overlayfs_create_rotation_called_
                # truncation.py, on ext4 too.)
                f.writes += path in written
                f.touches += path in touched

    def read_changed(self, paths: Iterable[str], emit: Callable[[Chunk], None], stop) -> bool:
        """Read only the files the watcher saw written to, oldest of a family first. True when
        one of the paths needs a scan first: not followed yet but could be, followed closed
        (only a scan may reopen a closed file: its inode may have been reused meanwhile), or
        unproven (a scan tells it from a copy first)."""
        emit = self.prospector.lapses.timed(emit)  # (a hand-over that waits is a lapse of attention)
        by_path = {f.path: f for f in self.files.values() if not f.unnamed}  # (moved away: read by descriptor)
        targets = self._by_target()
        todo: list[Followed] = []
        scan = False
        for p in paths:
            f = by_path.get(p)
            if f is None and p in targets:
                f = targets[p]
                if not _still_at(f, p):
                    scan = True  # (the file the link points at was rotated: a new one is written there)
                    continue
            if f is None:
                scan = scan or self.prospector.could_follow(p)
            elif f.fh is None or f.unproven:
                scan = True
            else:
                todo.append(f)
        self.flush(emit)
        todo.sort(key=lambda f: (f.family, not f.deleted, f.mtime_ns, f.path))
        for f in todo:
            if stop.is_set():
                break
            if (f.dev, f.ino) in self.files:
                self._read_file(f, emit, stop)
        self.flush(emit)
        self.attest()
        return scan

    def folders(self) -> set[str]:
        """Folders holding the files followed under a name (where writes are to be watched), and those of the files
        that followed live paths are symlinks to (Kubernetes' /var/log/containers/*.log into /var/log/pods/…): inotify
        reports a write where the file is, not where a link to it is, nor the rotation there (unwatched, appends
        were read at the safety rescan only and files rotated and deleted between two rescans lost unnamed:
        tests/tail/test_attack25_symlinked_logs_target_rotation_unseen.py). One watch a folder, dropped with the
        last followed link into it."""
        return ({os.path.dirname(f.path) for f in self.files.values() if not f.deleted}
                | {os.path.dirname(t) for t in self._by_target()})

    def _by_target(self) -> dict[str, Followed]:
        """The followed live files whose live path is a symlink to a file elsewhere, by that file's path."""
        out: dict[str, Followed] = {}
        for f in self.files.values():
            if f.path == f.family and not f.deleted and not f.unnamed:
                target = self.prospector.families.alias(f.family)
                if target is not None:
                    out[target] = f
        return out

    def bury_deleted(self, emit: Callable[[Chunk], None]) -> None:
        """At a stop: the deleted files read to their end saved as gone (letting_go.bury_deleted)."""
        letting_go.bury_deleted(self.prospector)
        self.flush(emit)

    def bury_let_go(self, named: Collection[tuple[int, int]]) -> None:
        """At a stop: the deleted files whose unread rest the let-go named lost (`named`: LossLedger.let_go) saved
        gone, read up to where they were (flushed next). Saved as they were, the next start, finding them nowhere,
        named those bytes again as deleted before they could be read (tests/tail/test_stop_while_lagging_loss_size.py:
        12.9 MB named twice, once the start had time to decide). One not identified yet (no complete line read: its
        placeholder saved) is forgotten: the next start named it again as the live file "rotated away before the rest
        could be read: deleted (more rotations than backups)", a cause that did not happen (a storm's files not
        identified yet at the stop: tests/tail/test_stop_names_let_go_once.py)."""
        self._named_at_let_go = {*(self._named_at_let_go or ()), *named}
        for f in self.files.values():
            s = f.state
            if (f.dev, f.ino) not in named:
                continue
            if s is None:
                self.pending[self.prospector.matcher.placeholder(f).key] = None
            elif not s.gone:
                s.bury_at_read(clock.wall())
                self.pending[s.key] = s

    def saved_offset(self, fd: int) -> int:
        """How much of the file open at `fd` this tailer's saved state says was read and delivered (a state not
        followed yet, as loaded at its start); 0 when none is saved."""
        st = os.fstat(fd)
        gen = generation(fd)
        for lo in self.prospector.loose.values():
            s = lo.state
            if (s.dev, s.ino) == (st.st_dev, st.st_ino) and s.gen in (-1, gen if gen is not None else -1) and not s.gz:
                return s.offset
        return 0

    def bury_refused(self, deleted: Collection[tuple[int, int]], named: Collection[tuple[int, int]]) -> None:
        """At a reload's take-over: the deleted files the lowered budget let go (`deleted`), those of them whose
        unread rest was named lost (`named`): their saved states are saved gone, read up to where they were. One
        read to its end lost nothing; found gone, it was called the live file "rotated away … (more rotations than
        backups)", an unknown loss; one named was named again."""
        for lo in list(self.prospector.loose.values()):
            s = lo.state
            key = (s.dev, s.ino)
            if key in deleted and not s.gz and lo.gone_at is None and (key in named or s.offset >= s.size):
                s.bury_at_read(clock.wall())
                lo.gone_at = clock.monotonic()
                self.pending[s.key] = s

    def flush(self, emit: Callable[[Chunk], None]) -> None:
        self._queue_held()
        if self.pending:
            emit(Chunk([], [], None, self.pending.take(), 0, None))

    def _read_file(self, f: Followed, emit, stop) -> bool:
        if not self.prospector.may_open(f):
            return False
        try:
            fh = self.fds.open(f)
        except OSError:
            return False
        try:
            got = self._read_open(f, fh, emit, stop)
        except OSError as e:  # its disk fails (EIO): this file waits, the source's other files go on
            self.fds.read_failed(f.path, e)
            return False
        self.fds.read_ok(f.path)
        return got

    def _read_open(self, f: Followed, fh: OpenFile, emit, stop) -> bool:
        new = f.state is None
        if not self.prospector.identify(f):
            return False
        if new and f.state.ahead:
            # Its identity and `ahead` are committed before its first lines are sent: merged into their
            # batch, a kill -9 after their delivery left only the placeholder committed, and its .gz
            # (nothing proving it the same content) was read again under another file id, stored twice
            # in Elasticsearch (a file followed while empty, as logrotate `create` makes it).
            self.flush(emit)
        mtime_ns = ctime_ns = 0
        try:
            if f.gz:
                pre = fh.size()
            else:
                if self.drain_events is not None:
                    self.drain_events()  # (noted before the look: looks.stat)
                st = looks.stat(f, fh)
                pre, mtime_ns, ctime_ns = st.st_size, st.st_mtime_ns, st.st_ctime_ns
        except OSError:
            pre = 0
        if not f.gz:
            if truncation.check_truncated(self.prospector, f, pre, mtime_ns=mtime_ns):
                return False
            truncation.cut_back_unseen(self.prospector, f)
        if self.read_bounds is not None:
            stop = _ReadUpTo(stop, f, self.read_bounds.setdefault((f.dev, f.ino), pre))
        return self.harvester.read(f, fh, pre, emit, stop, mtime_ns, ctime_ns)

    def hand_looks_over(self) -> looks.HandedLooks:
        """A reload's restart: what this tailer's looks saw, for its successor (take_looks)."""
        states = [f.state for f in self.files.values() if f.state is not None]
        states += [lo.state for lo in self.loose.values()]
        kept = {f.state.key: looks.kept(f) for f in self.files.values() if f.state is not None and not f.gz}
        lapses = self.prospector.lapses
        return looks.HandedLooks({s.key: s.looked for s in states}, kept,
                                 (lapses.ended_at, lapses.cause, lapses.attested_at))

    def take_looks(self, handed: looks.HandedLooks) -> None:
        """Before the first scan of a successor built by a reload's restart (in this process): its predecessor's looks
        (hand_looks_over) go on — each saved state's size looked at, each followed file's last look and the writes
        noted since (given back as the file is followed again on the same inode: Prospector._attach), its last
        lapse of attention."""
        for lo in self.loose.values():
            lo.state.looked = handed.looked.get(lo.state.key, lo.state.looked)
        self.prospector.kept = dict(handed.kept)
        lapses = self.prospector.lapses
        if handed.lapse[0] > lapses.ended_at:
            lapses.ended_at, lapses.cause, lapses.attested_at = handed.lapse

    def know_unread_at_stop(self) -> None:
        """At a stop, before the holder is let go: the files it holds that no scan took, and the followed files not
        identified yet, identified, so that unsaved_states knows them (letting_go.know_unread_at_stop)."""
        holder = self.holder
        letting_go.know_unread_at_stop(self.prospector, list(holder.held.values()) if holder is not None else [])

    def unsaved_states(self, saved: Mapping[str, Any],
                       let_go: Collection[tuple[int, int]] | None = None) -> dict[str, Any]:
        """The states of the files first read in this run that `saved` (the source's saved state) lacks, each
        at the position it was found at and with the size read since: a stop with an output down saves them,
        so that the next start reads them again, or names their bytes lost if they were deleted meanwhile (a
        rotation past the last backup while the agent was stopped). Without them it knew nothing of those
        files: their lines reached no output that had not stored them, and no loss was named. Each of those, and
        each saved state this run read further than, notes where the read had got to (FileState.reread_to): an
        edit while the agent is stopped moves the lines an output stored past the saved position. Each is saved with
        the size it has now: a file read in part and written to since its last read (the reader held back) was named
        short of what it lost. `let_go`: the (dev, inode) of the files whose unread rest is named lost as their
        descriptors are let go; else those the stop's let-go named (bury_let_go) once it has run, those deleted and
        open now before (the stop in a reload's wait lets them go after this save)."""
        out: dict[str, Any] = {}
        named = let_go if let_go is not None else self._named_at_let_go
        states = [(f.state, f) for f in self.files.values()] + [(lo.state, None) for lo in self.loose.values()]
        for s, f in states:
            if s is None:
                continue
            # A file whose unread rest the let-go names lost as it lets its descriptor go (LossLedger.let_go): its
            # state says it was read up to where it was, so that the next start names only what was read and not
            # delivered, not that rest again (a stop during a reload's wait with an output down: the files rotated
            # away unread were named twice, 35-63 KB). Once the let-go has run, only those it named: one deleted
            # after it (the stop then waits shutdown_timeout for an output down) still open was saved so too, and
            # what was written to it after its last read went unnamed
            # (tests/tail/test_deleted_during_stop_wait_named.py: 19,490 of 48,780 bytes).
            let_go_unread = f is not None and not f.gz and (
                f.deleted_open() if named is None else (f.dev, f.ino) in named)
            if s.key in saved:
                value = saved[s.key]
                if not isinstance(value, dict) or type(value.get("offset")) is not int:
                    continue
                if let_go_unread and s.offset <= value["offset"]:
                    out[s.key] = buried(value)
                    continue
                update: dict[str, Any] = {}
                if value["offset"] < s.offset and s.mark:
                    update["reread_to"] = [s.offset, s.mark]
                # (The read position, also past the size saved last: read and not delivered, all of it is lost.)
                if let_go_unread and type(value.get("size")) is int and value["size"] != s.offset:
                    update["size"] = s.offset
                elif update and type(value.get("size")) is int and value["size"] < (now := _size_at_stop(f)):
                    update["size"] = now
                if f is not None and value.get("path") != s.path:
                    update["path"] = s.path  # (renamed since: the next start names it by the name it had at the stop)
                if value.get("looked", 0) != s.looked:
                    # (A size looked at since the last delivered batch, or its cut named since: the next start's read
                    # that ends short of it names the cut above what was read, and only that one: looks.py)
                    update["looked"] = s.looked
                if update:
                    out[s.key] = {**value, **update}
                continue
            if (found := self.prospector.found.get(s.key)) is None:
                continue
            value = s.to_json()
            value.update(offset=found[0], mark=found[1], ahead=found[2], earlier=[], gone=0.0,
                         spaced=[m for m in s.spaced if m[0] <= found[0]],
                         size=max(found[0], s.offset) if let_go_unread else max(s.size, s.offset, _size_at_stop(f)),
                         reread_to=[s.offset, s.mark] if s.offset > found[0] else [])
            out[s.key] = buried(value) if let_go_unread and s.offset <= found[0] else value
        if self._held is not None:  # (the entries of what the holder let go: a stop named them, or the tailer took them)
            held = self._held.keys()
            out.update((k, None) for k in saved if k.startswith(held_record.HELD_PREFIX) and k not in held)
        return out

    def looks_to_keep(self, grown: bool) -> dict[str, int | None]:
        """The checkpoint entries that keep the sizes looked at beyond what is saved (looks.to_keep), as they changed:
        `grown` after a look while the reader is held, else (housekeeping) only those no longer needed deleted. The
        caller saves them at once (ctx.note)."""
        if not grown and not self._looks_kept:
            return {}
        states = [f.state for f in self.files.values() if f.state is not None]
        if self._looks_kept:
            following = {s.key for s in states}
            states += [lo.state for k in self._looks_kept if k not in following
                       and (lo := self.loose.get(k[len(FILE_PREFIX):])) is not None]
        return looks.to_keep(states, self._looks_kept, self._saved_of, grown)

    def looked_unsaved(self, saved: Mapping[str, Any]) -> dict[str, Any]:
        """At a stop that delivered everything: the saved states whose size looked at (FileState.looked) is not the one
        saved, with it. A look after the last delivered batch (while the reader was held, the output back during the
        stop's wait) was kept by no checkpoint, and the log cut in place below it while the agent was stopped was read
        on as if it had only grown less (tests/tail/test_looked_size_saved_at_stop_and_kill.py)."""
        out: dict[str, Any] = {}
        for s in [f.state for f in self.files.values() if f.state is not None] + [lo.state for lo in self.loose.values()]:
            value = saved.get(s.key)
            if isinstance(value, dict) and type(value.get("offset")) is int and value.get("looked", 0) != s.looked:
                out[s.key] = {**value, "looked": s.looked}
        return out

    def close(self) -> None:
        for f in self.files.values():
            if f.fh is not None:
                f.fh.close()
                f.fh = None
        self.fds.leave()

    # ------------------------------------------------------------------ reporting

    @property
    def bytes_lost(self) -> int:
        return self.ledger.bytes_lost

    @property
    def losses(self) -> int:
        return self.ledger.losses

    @property
    def hole_bytes(self) -> int:
        return self.ledger.hole_bytes

    def lag(self) -> int:
        return sum(x["lag"] or 0 for x in self.status())

    def status(self) -> list[dict[str, Any]]:
        out = []
        for f in sorted(list(self.files.values()), key=lambda f: f.path):
            pos = f.state.offset if f.state else f.start
            # f.size is its size at the end of its last read; a read held up by backpressure has already moved
            # the position past it (a file read under a name now another's showed "position 45879 of 41900").
            size = max(f.size, pos, _size_now(f))
            out.append({"path": f.path, "position": pos, "size": size, "lag": size - pos,
                        "open": f.fh is not None, "deleted": f.deleted,
                        "file_id": f.state.fid if f.state else None})
            if f.path in self.unreadable:
                out[-1]["note"] = f"unreadable: {self.unreadable[f.path]}"
        followed = {x["path"] for x in out}
        for path, why in sorted(self.unreadable.items()):
            if path in followed:
                continue
            out.append({"path": path, "position": None, "size": None, "lag": None, "open": False, "deleted": False,
                        "file_id": None, "note": f"unreadable: {why}"})
        return out


def _size_at_stop(f: Followed | None) -> int:
    """The size of plain file `f` at a stop: through the tailer's descriptor, else by the name it has (its inode
    still there); 0 when neither tells. Not open (the descriptor budget closed it, or only the holder held it, and the
    stop has let the holder's descriptors go), it was saved with the size its last look saw: grown and rotated since,
    then deleted while the agent was stopped, it was named short of what it lost, as an exact size
    (tests/tail/test_stop_saves_size_of_unread_rotated.py)."""
    if f is None or f.gz:
        return 0
    if f.fh is not None:
        return _size_now(f)
    try:
        st = os.stat(f.path)
    except OSError:
        return 0
    return st.st_size if (st.st_dev, st.st_ino) == (f.dev, f.ino) else 0


class _ReadUpTo:
    """The stop a file's read under run --once obeys: the agent's stop, or the file read up to `until` (its size
    when the run first met it). `--once` reads what is there now: chasing a writer faster than the agent, it read
    on until --timeout and exited 1 (exam13, session 20: 4,932,000 lines of a log that held 5,000)."""

    def __init__(self, stop, f: Followed, until: int):
        self.stop, self.f, self.until = stop, f, until

    def is_set(self) -> bool:
        s = self.f.state
        return self.stop.is_set() or (s is not None and s.offset >= self.until)


def buried(value: dict[str, Any]) -> dict[str, Any]:
    """The saved state of a deleted file let go with nothing read and not delivered: its unread rest is named lost
    as its descriptor goes, so it is saved gone (a tombstone, as FileState.bury keeps one). Saved at its read
    position, the next start took it for a file rotated away unseen and named its loss again, of unknown size
    ("written after the last read": the live file a reload's restart let go with an output down)."""
    return {**value, "size": value["offset"], "gone": clock.wall(), "earlier": [], "ahead": [], "reread_to": []}


def _size_now(f: Followed | None) -> int:
    """The size of plain file `f` now, through the tailer's descriptor; 0 when it has none open (or a .gz: its state's
    size is what it decompresses to). A look (looks.py): status() asks from another thread too."""
    return looks.look(f) if f is not None else 0


def _still_at(f: Followed, path: str) -> bool:
    """Is `path` still the file `f` (its device and inode)?"""
    try:
        st = os.stat(path)
    except OSError:
        return False
    return (st.st_dev, st.st_ino) == (f.dev, f.ino)
