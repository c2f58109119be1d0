"""`type: file` — follows log files through rotation (Log4j 1.2/2, logrotate) and restarts, and
emits complete lines with keys stable across renames: the tailing itself is shipper.tail."""
from __future__ import annotations

import codecs
import glob
import os
import random
import threading
import time
from operator import methodcaller
from typing import Any, Callable, Literal

from pydantic import Field, field_validator

from shipper.api import (
    INVALID_ENCODING,
    WAIT_MAX,
    RawBatch,
    SavedPosition,
    Source,
    SourceConfig,
    WakingEvent,
    is_utf8,
    looking_while_held,
    metrics,
    saved_value_line,
)
from shipper.tail import discovery
from shipper.tail.events import TailEvents
from shipper.tail.harvester import Chunk
from shipper.tail.holder import HELD_PREFIX, Held, Holder, generation, held_key, hold_budget
from shipper.tail.scan_rules import STARTED_GLOB
from shipper.tail.state import LOOKED_PREFIX, SEEN_PREFIX, WAITING_PREFIX, WINDOW_COPY_PREFIX, load_states
from shipper.tail.tailer import Tailer, buried
from shipper.tail.watcher import WATCHER_DESCRIPTORS, Changes, ChangeWatcher, watcher_descriptors

STOP_CHECK = 0.5  # longest sleep when ctx.stop cannot wake the watcher (a plain threading.Event)
HOUSEKEEPING = 10.0  # seconds between walks over every file (idle descriptors, lag metrics) when inotify works
# A rescan_interval left unset grows so that the safety rescan costs at most this share of a core (its
# own CPU time, measured on each quiet pass), up to RESCAN_STRETCH_MAX: a pass over 2,000 quiet files
# takes ~0.1 s here, so every 60 s it alone cost an idle agent ~0.18 % of a core (issue 23's goal: 0.2 %).
RESCAN_BUDGET = 0.0008
RESCAN_STRETCH_MAX = 600.0

# The files each running file source follows, by path: two sources whose globs overlap each follow
# a file with their own checkpoint and ship every line twice. Named once per file, so the operator
# narrows `paths` or `exclude` (tests/tail/test_attack3_overlapping_sources.py).
_followed_by: dict[str, set[str]] = {}
# path -> the source that followed it last, once none does (a reload moving a file to another source:
# that one reads it from its own checkpoint or its start, and what the first shipped goes again).
_last_followed_by: dict[str, str] = {}
LAST_FOLLOWED_BOUND = 10000
# name -> the paths it followed, for a source a reload restarted whose successor has not scanned yet: that
# successor (same name) may follow them on, so a source taking one meanwhile does not say it moved; the
# successor's first scan does, for those it no longer follows (exam23b: a reload adding a source over a
# file that `s` keeps, and restarting `s`, said "a reload moved it").
_restarted: dict[str, set[str]] = {}
# Why a deleted file held open is let go unread (a loss named per family: LossLedger.let_go).
LET_GO_STOPPED = "the agent stopped"
LET_GO_UNTAKEN = "the source a reload restarted let them go (no successor took them over)"
LET_GO_REMOVED = "a reload removed the source"
LET_GO_BUDGET = "the reload lowered the hold budget (`hold_max_files` / `hold_max_bytes`), so they were let go"
LET_GO_BUDGET_FULL = ("the hold budget was full when a reload restarted the source (`hold_max_files` / "
                      "`hold_max_bytes`), so they were not held across it")
# (device, inode) -> {source: (path, generation)}: the files each running file source follows, by inode, and the source
# that followed one last (once none does): a file moved from one source's folder into another's (an archive folder
# read by a source of its own, a mover script) is another path, the same file (exam29b:
# tests/tail/test_attack29_log_moved_to_another_source_shipped_twice.py, every line shipped twice, unnamed).
_inode_followed_by: dict[tuple[int, int], dict[str, tuple[str, int]]] = {}
_inode_last_followed_by: dict[tuple[int, int], tuple[str, str, int]] = {}
_followed_lock = threading.Lock()
# The sources whose run() began in this process: the holder's entries a restarted one finds in its checkpoint are its
# predecessor's, whose losses were named as it let them go (a kill leaves them to the next process's start to name).
_ran: set[str] = set()


class FileSourceConfig(SourceConfig):
    type: Literal["file"] = "file"
    paths: list[str] = Field(min_length=1)  # globs, ** allowed; rotated names of each are followed too
    exclude: list[str] = []  # globs on the full path or the file name
    # for a path never seen before; `end` skips only what a glob finds the first time it looks (a file
    # made while the agent was stopped, or a reload ran, is read from its start)
    read_from: Literal["beginning", "end"] = "beginning"
    max_line_bytes: int = Field(default=1024 * 1024, ge=64)  # longer lines are cut, flagged _line_truncated
    close_inactive: float = Field(default=300.0, gt=0)  # seconds: idle files give back their descriptor
    # Seconds between full passes (look for files, read every followed file) where change
    # notification does not work (no inotify, NFS/FUSE, a folder beyond the watch limit). With
    # inotify working there is no such pass: this is then only how often files inotify cannot
    # report on (deleted while open) are read and how often a pending decision (a file gone or
    # too short to tell from a copy) gets a pass; with none of those, an idle source sleeps.
    poll_interval: float = Field(default=1.0, gt=0, le=WAIT_MAX)
    # With inotify working: seconds between safety rescans (a full pass, in case an event was
    # missed), staggered by ±10 % so that sources do not wake together. Left unset, it grows on a
    # source with many files so that the rescan costs at most 0.08 % of a core (up to 600 s).
    rescan_interval: float = Field(default=60.0, gt=0, le=WAIT_MAX)
    # Seconds to wait after a change notification before reading, so that one read takes the
    # lines of many writes (each Log4j line is a write and a wake-up): CPU per line against
    # latency. 0 reads at once. Never delays `--once`.
    gather_interval: float = Field(default=0.05, ge=0, le=10.0)
    encoding: str = "utf-8"  # of the files; lines are handed on as UTF-8
    # Rotated files are opened the moment they appear (shipper.tail.holder), so one rotated and
    # deleted while reading is blocked (an output down) is still read. At most this many held at
    # once (a quarter of them kept for rotated names: new files and a new live file take the rest),
    # and at most this much disk space kept by held files already deleted; what appears beyond that
    # and is gone before a scan finds it is a counted, warned loss.
    hold_max_files: int = Field(default=256, ge=0)
    hold_max_bytes: int = Field(default=1 << 30, ge=0)

    @field_validator("encoding")
    @classmethod
    def _encoding(cls, v: str) -> str:
        try:
            info = codecs.lookup(v)
        except LookupError:
            raise ValueError(f"unknown encoding {v!r}")
        try:
            newline = "\n".encode(info.name)
            # A byte the encoding cannot decode is passed on as it is (_to_utf8): the codec must allow that.
            b"\n\xff".decode(info.name, "surrogateescape")
        except LookupError:  # codecs.lookup knows it, but as a bytes-to-bytes transform (base64, hex, zlib, …)
            raise ValueError(f"{v!r} is not a text encoding (a transform of bytes, as base64 or zlib are); not supported")
        except UnicodeError:  # idna, punycode: not an encoding of a file's text
            raise ValueError(f"encoding {v!r} cannot pass on a byte it cannot decode; not a file encoding")
        if newline != b"\n":
            # Lines are found by their b"\n" byte: UTF-16/32 files cannot be split that way.
            raise ValueError(f"encoding {v!r} does not write a newline as the byte 0x0a; not supported")
        return info.name


_IS_ASCII = methodcaller("isascii")


class _CountedEvents(TailEvents):
    """The tailer's events, counted in the source's metrics."""

    def __init__(self, source: FileSource) -> None:
        self.source = source

    def lost(self, path: str, nbytes: int) -> None:
        self.source._count_loss(path, nbytes)

    def rotated(self) -> None:
        self.source._m_rot.inc()

    def lines_cut(self, n: int) -> None:
        self.source._m_cut.inc(n)

    def hole_skipped(self, nbytes: int) -> None:
        self.source._m_holes.inc(nbytes)

    def read_undecided(self) -> None:
        self.source._m_undecided_read.inc()

    def read_again(self, nbytes: int) -> None:
        self.source._m_read_again.inc(nbytes)

    def tombstones_forgotten(self, n: int) -> None:
        self.source._m_forgotten.inc(n)


class _HandedOver:
    """A restarted file source's holder on its way to the successor (Source.hand_over)."""

    def __init__(self, holder: Holder, files: list[tuple[int, str, str, int | None, float]],
                 name_lost: Callable[[list[tuple[int, str, int | None]], str], set[tuple[int, int]]],
                 name_escapes: Callable[[dict[str, int]], None],
                 unsaved: Callable[[set[tuple[int, int]]], dict[str, Any]],
                 removed: _Removal | None = None, looks: Any = None) -> None:
        self.holder = holder
        # Copies of the descriptors of the files the tailer had open, (fd, path, family, bytes read,
        # when it last read it), those readable only through them first: adopted by the holder
        # within the successor's budget.
        self.files = files
        self.name_lost = name_lost  # the stopped source's LossLedger.let_go: names what is let go unread
        self.name_escapes = name_escapes  # and its escapes (files that came and went unheld)
        # and its states, the deleted files let go unread saved as read up to where they were (Tailer.unsaved_states)
        self.unsaved = unsaved
        # The source was removed (Source.removing): no successor reads again what the reload took back
        self.removed = removed
        # What the stopped tailer's looks saw (Tailer.hand_looks_over): the successor's reads compare with it
        self.looks = looks

    def close(self) -> dict[str, Any]:
        """No successor takes them (a stop, a failed start, a later reload): a deleted file's unread
        bytes are lost, and named; so are the files that came and went while the holder waited. Returns
        the states to save, so that the next start does not name those bytes again (nor what the stopped
        source first read and did not deliver: named then)."""
        self.name_escapes(self.holder.take_at_stop())
        # The files let go deleted: those the tailer had open, and those the holder holds (a file the stopped source
        # followed through the holder's descriptor and never opened: saved as found, the next start named it again).
        deleted: set[tuple[int, int]] = set()
        for fd in [fd for fd, *_ in self.files] + [h.fd for h in list(self.holder.held.values())]:
            try:
                st = os.fstat(fd)
            except OSError:
                continue
            if st.st_nlink == 0:
                deleted.add((st.st_dev, st.st_ino))
        states = self.unsaved(deleted)
        named: set[tuple[int, int]] = set()
        removed = self.removed

        def let_go(held: list[Held]) -> None:
            files = ([(fd, fam, read) for fd, _, fam, read, _ in self.files]
                     + [(h.fd, h.family, h.read) for h in held])
            if removed is None:
                self.name_lost(files, LET_GO_UNTAKEN)
            else:  # (what the reload took back is read again by no successor: lost from what was delivered)
                named.update(self.name_lost([(fd, fam, removed.delivered(fd, read)) for fd, fam, read in files],
                                            LET_GO_REMOVED))
        self.holder.stop(let_go)
        for fd, *_ in self.files:
            os.close(fd)
        self.files = []
        if removed is not None:
            states.update(removed.gone_states(named, states))
        return states


class _Removal:
    """What a removed file source's hand-over (Source.removing) names its deleted files' loss from: the bytes its
    checkpoint delivered, not the bytes its tailer read. Closed once the reload settled its batches (completed or taken
    back), with no successor to read again what was taken back: named from the read position, 3,000 lines of a deleted
    backup held while the output was down went without a word (exam23,
    tests/tail/test_attack18_reload_removes_source_held_deleted.py)."""

    def __init__(self, tailer: Tailer, saved: Callable[[str], Any]) -> None:
        self.tailer = tailer
        self.saved = saved

    def delivered(self, fd: int, read: int | None) -> int | None:
        """Bytes of the file open at `fd` its checkpoint delivered; where it was found when none were; None when
        unknown (a compressed file read in part: `read` None)."""
        if read is None:
            return None
        try:
            st = os.fstat(fd)
        except OSError:
            return read
        f = self.tailer.files.get((st.st_dev, st.st_ino))
        if f is not None and f.state is not None:
            value = self.saved(f.state.key)
            if isinstance(value, dict) and type(value.get("offset")) is int:
                return min(value["offset"], read)
            found = self.tailer.prospector.found.get(f.state.key)
            return min(found[0], read) if found is not None else 0
        return min(self.tailer.saved_offset(fd), read)

    def gone_states(self, named: set[tuple[int, int]], states: dict[str, Any]) -> dict[str, Any]:
        """The states of the files whose loss was `named`, saved gone at what was delivered (`states`: those the
        let-go saves already): a reload putting the source back names them no more."""
        t = self.tailer
        keys = [f.state.key for f in t.files.values() if f.state is not None and (f.dev, f.ino) in named]
        keys += [lo.state.key for lo in t.loose.values() if (lo.state.dev, lo.state.ino) in named]
        out: dict[str, Any] = {}
        for key in keys:
            value = self.saved(key)
            if not (isinstance(value, dict) and type(value.get("offset")) is int):
                value = states.get(key)
            if isinstance(value, dict) and type(value.get("offset")) is int:
                out[key] = buried(value)
        return out


class FileSource(Source):
    Config = FileSourceConfig
    config: FileSourceConfig
    # At the first look at a path its backups are history (skipped): the agent says it started only after
    # that look, so that the live file rotated right after `started` is a rotation of a followed file.
    looks_first = True
    # Its ChangeWatcher's (watcher.WATCHER_DESCRIPTORS) and one file: twelve file sources under a limit of 64 met
    # EMFILE making their watchers (tests/tail/test_attack20_many_sources_low_nofile_crash.py). Its tailer keeps more
    # files open only within what the limit leaves past this (tail.descriptors.fd_budget).
    descriptors_kept = WATCHER_DESCRIPTORS + 1

    @classmethod
    def descriptors_for(cls, config: SourceConfig, base_dir: str) -> int:
        """With a recursive glob root, watchdog's observer too (seven sources of four `**` globs each were accepted
        under a limit of 64 counted without it: tests/tail/test_attack21_recursive_globs_descriptor_refusal.py)."""
        assert isinstance(config, FileSourceConfig)
        return watcher_descriptors(discovery.watch_roots(config.paths, base_dir)) + 1

    @classmethod
    def reads_file(cls, config: SourceConfig, base_dir: str, path: str) -> bool:
        """Its globs list `path`, or a file of which `path` is a rotated name (app.log.1 of app.log)."""
        assert isinstance(config, FileSourceConfig)
        if discovery.glob_matches(path, config.paths, config.exclude, base_dir):
            return True
        folder, name = os.path.split(path)
        try:
            names = os.listdir(folder)
        except OSError:
            return False
        return any(discovery.is_rotated_name(live, name)
                   and discovery.glob_matches(os.path.join(folder, live), config.paths, config.exclude, base_dir)
                   for live in names)

    def __init__(self, config: FileSourceConfig, ctx):
        super().__init__(config, ctx)
        self.base_dir = ctx.base_dir
        log = ctx.logger
        name = config.name
        self._m_lost = metrics.bytes_lost.labels(name)
        self._m_losses = metrics.losses.labels(name)
        self._m_rot = metrics.rotations.labels(name)
        self._m_cut = metrics.lines_truncated.labels(name)
        self._m_holes = metrics.hole_bytes.labels(name)
        self._m_unreadable = metrics.files_unreadable.labels(name)
        self._m_failing = metrics.source_failing.labels(name)
        self._m_failing.set(0)  # a sample from the start: an alert on it must not wait for a first failure
        self._m_last_error = metrics.source_last_error.labels(name, "unreadable")
        self._m_undecided = metrics.files_undecided.labels(name)
        self._m_undecided_read = metrics.undecided_read.labels(name)
        self._m_read_again = metrics.read_again.labels(name)
        self._m_forgotten = metrics.tombstones_forgotten.labels(name)
        metrics.held_bytes.read_by(self.held_deleted_bytes, name)
        self.holder: Holder | None = None
        self._restarting = False  # a reload restarts this source: the holder outlives run() (hand_over)
        self._removed = False  # a reload removes it: the same, and its hand-over is closed at once (removing)
        self._taken: Holder | None = None  # the predecessor's holder (take_over), used by run()
        self._run_over = False  # run() returned: what it held is no longer its own to watch (look_ahead)
        self._looked: dict[tuple[int, int], str] = {}  # files look_ahead found and the holder holds -> their state's key
        self._files_let_go = False  # the tailer's open files are named at a stop, or handed over: once
        self._lag_paths: set[str] = set()
        self._lock = threading.Lock()
        self.tailer = Tailer(
            config.paths, config.exclude, self.base_dir, dict(ctx.state),
            read_from=config.read_from, max_line_bytes=config.max_line_bytes,
            close_inactive=config.close_inactive, batch_lines=config.batch_size, logger=log,
            events=_CountedEvents(self), saved=ctx.saved,
        )
        tailer = self.tailer
        metrics.tombstones.read_by(lambda: tailer.tombstones, name)
        self._transcode = config.encoding not in ("utf-8", "ascii")
        self._claimed: set[str] = set()  # paths this source has in _followed_by
        self._claimed_inodes: set[tuple[int, int]] = set()  # inodes this source has in _inode_followed_by
        self._undecided: set[str] = set()  # of those, the ones last followed by a source in _restarted
        self._overlap_named: set[str] = set()

    def _unclaim(self, paths: set[str]) -> None:
        """This source follows these paths no more (with _followed_lock held)."""
        for path in paths:
            names = _followed_by.get(path, set())
            names.discard(self.config.name)
            if not names:
                _followed_by.pop(path, None)
                _last_followed_by.pop(path, None)
                _last_followed_by[path] = self.config.name
                if len(_last_followed_by) > LAST_FOLLOWED_BOUND:
                    for old in list(_last_followed_by)[:LAST_FOLLOWED_BOUND // 2]:
                        del _last_followed_by[old]

    def _claim_followed(self) -> None:
        """After a scan: name each file another source follows too (each ships its lines), and each a reload
        moved from one source to another (read again from the other's checkpoint)."""
        name = self.config.name
        now = {f.path for f in self.tailer.files.values()}
        with _followed_lock:
            self._unclaim(self._claimed - now)
            self._undecided &= now
            for path in (now - self._claimed) | self._undecided:
                names = _followed_by.setdefault(path, set())
                names.add(name)
                others = sorted(names - {name})
                before = _last_followed_by.get(path)
                if before in _restarted and before != name:  # (left to that source's successor: kept or moved)
                    self._undecided.add(path)
                    continue
                self._undecided.discard(path)
                _last_followed_by.pop(path, None)
                if before is not None and before != name and not others:
                    self._say_moved(path, before, name)
                if others and path not in self._overlap_named:
                    self._overlap_named.add(path)
                    self.ctx.logger.warning(
                        f"{path} is followed by source(s) {', '.join(others)} too: each ships its lines (every line "
                        "twice); narrow `paths` or `exclude` so that one source has it", extra={"path": path})
            self._claimed = now
            self._claim_inodes()
            # After a restart by a reload, once: what the predecessor followed and this source no longer does, taken
            # by other sources meanwhile (each waiting on this scan), moved to them.
            for path in _restarted.pop(name, set()) - now:
                takers = _followed_by.get(path)
                if takers and _last_followed_by.get(path) == name:
                    del _last_followed_by[path]
                    for taker in sorted(takers):
                        self._say_moved(path, name, taker)

    def _claim_inodes(self) -> None:
        """After a scan, with _followed_lock held: name each file this source follows now that another source follows,
        or followed last, under another path (moved from its folder into this source's): each ships its lines."""
        name = self.config.name
        now = {(f.dev, f.ino): (f.path, f.state.gen if f.state is not None else f.gen)
               for f in self.tailer.files.values() if not f.gz}
        self._unclaim_inodes(self._claimed_inodes - now.keys())
        for key in now.keys() - self._claimed_inodes:
            path, gen = now[key]
            names = _inode_followed_by.setdefault(key, {})
            names[name] = (path, gen)
            others = [(o, p) for o, (p, g) in sorted(names.items())
                      if o != name and p != path and (gen < 0 or g < 0 or g == gen)]
            last = _inode_last_followed_by.pop(key, None)
            if not others and last is not None and last[0] != name and last[1] != path and (
                    gen < 0 or last[2] < 0 or last[2] == gen):
                others = [last[:2]]
            if others and path not in self._overlap_named:
                self._overlap_named.add(path)
                self.ctx.logger.warning(
                    f"{path} is the file source(s) {', '.join(f'{o} followed as {p}' for o, p in others)} (moved "
                    "from its folder into this source's): this source reads it from its own checkpoint or its start, "
                    "so lines the other shipped may be shipped again; let one source's `paths` have it",
                    extra={"path": path})
        self._claimed_inodes = set(now)

    def _unclaim_inodes(self, keys: set[tuple[int, int]]) -> None:
        """This source follows these inodes no more (with _followed_lock held)."""
        name = self.config.name
        for key in keys:
            names = _inode_followed_by.get(key, {})
            path, gen = names.pop(name, ("", -1))
            if not names:
                _inode_followed_by.pop(key, None)
                _inode_last_followed_by.pop(key, None)
                _inode_last_followed_by[key] = (name, path, gen)
                if len(_inode_last_followed_by) > LAST_FOLLOWED_BOUND:
                    for old in list(_inode_last_followed_by)[:LAST_FOLLOWED_BOUND // 2]:
                        del _inode_last_followed_by[old]

    def _say_moved(self, path: str, before: str, taker: str) -> None:
        self.ctx.logger.warning(
            f"{path} was followed by source {before} until now (a reload moved it): source {taker} reads it "
            "from its own checkpoint or from its start (read_from), so lines source "
            f"{before} shipped may be shipped again", extra={"path": path})

    def _count_loss(self, path: str, nbytes: int) -> None:
        # A loss of unknown size counts 0 bytes, so it needs its own counter to be seen.
        self._m_losses.inc()
        self._m_lost.inc(nbytes)
        self.ctx.lost(path, nbytes)

    def describe(self) -> list[str]:
        lines = []
        for path in discovery.expand(self.config.paths, self.config.exclude, self.base_dir):
            backups = sorted(discovery.rotated_siblings(path))
            lines.append(path + (f"  (+{len(backups)} rotated: {', '.join(b.rsplit('/', 1)[-1] for b in backups)})"
                                 if backups else ""))
            for p in [path, *backups]:
                try:
                    os.close(os.open(p, os.O_RDONLY | os.O_CLOEXEC))
                except FileNotFoundError:
                    pass
                except OSError as e:
                    lines.append(f"{p}  UNREADABLE: [Errno {e.errno}] {e.strerror}")
        for path, kind in discovery.not_regular(self.config.paths, self.config.exclude, self.base_dir):
            lines.append(f"{path}  NOT READ: {kind}, not a regular file (the agent reads regular files only)")
        return lines

    def status(self) -> dict:
        files = self.tailer.status()  # a snapshot; no lock, so it answers during backpressure
        t = self.tailer
        lag = sum(f["lag"] or 0 for f in files)
        if self.holder is not None:
            lag += self.holder.unread_bytes(set(t.files))
        return {"files": files, "lag_bytes": lag,
                "bytes_lost": t.bytes_lost, "losses": t.losses, "rotations": t.rotations,
                "hole_bytes_skipped": t.hole_bytes, "unreadable": dict(t.unreadable),
                "undecided": len(t.undecided), "undecided_read": t.undecided_read,
                "held_files": len(self.holder.held) if self.holder else 0,
                "held_bytes": self.held_deleted_bytes()}

    def held_deleted_bytes(self) -> int:
        return self.holder.held_bytes() if self.holder else 0

    def last_error(self) -> dict[str, Any] | None:
        """The followed files it cannot read now (an open or a read refused: permissions, a failing disk), for
        /health's `sources_failing` and `shipper status`: the first of them named; None when every file reads."""
        failing = self._failing_files()
        if not failing:
            return None
        path, (why, since) = min(failing.items())
        more = f" (and {len(failing) - 1} more files)" if len(failing) > 1 else ""
        return {"kind": "unreadable", "message": f"cannot read {path}: {why}{more}", "scope": None, "at": time.time(),
                "since": since, "failing": True}

    def _failing_files(self) -> dict[str, tuple[str, float]]:
        """path -> (why, since) of the matched files it cannot open and the followed files it cannot read."""
        fds, now = self.tailer.fds, time.time()
        since = dict(fds.unreadable_since)
        return {**{p: (why, since.get(p, now)) for p, why in dict(fds.unreadable).items()}, **dict(fds.read_errors)}

    def _update_failing(self) -> None:
        """The metrics of last_error(): an alert on shipper_source_failing must see what /health sees."""
        failing = bool(self._failing_files())
        self._m_failing.set(1 if failing else 0)
        if failing:
            self._m_last_error.set(time.time())

    @classmethod
    def saved_positions(cls, state: dict) -> list[SavedPosition]:
        return [SavedPosition(st.key, st.path, st.offset, st.ino, st.size) for st in load_states(state)[0]]

    @classmethod
    def saved_notes(cls, state: dict) -> list[str]:
        # `seen:<path>`: a live path whose rotated names were looked at once, `seen:glob:<glob>` a glob looked
        # through once (by this run or an earlier one): read_from applies only to what was never seen. Counts.
        seen = [k[len(SEEN_PREFIX):] for k in state if k.startswith(SEEN_PREFIX)]
        globs = sum(1 for k in seen if k.startswith(STARTED_GLOB))
        paths = len(seen) - globs
        parts = [f"{n} {what}{'s' if n != 1 else ''}" for n, what in ((paths, "followed path"), (globs, "glob")) if n]
        out = [f"{' and '.join(parts)} already looked through (read_from applies only to what was never seen)"] if parts else []
        held = sum(1 for k in state if k.startswith(HELD_PREFIX))
        if held:
            out.append(f"{held} rotated file(s) held unread when the agent last ran (named lost at the next start if "
                       "deleted meanwhile)")
        # an f: value this version cannot read is no saved position: shown as it is
        return out + [saved_value_line(k, v) for k, v in state.items()
                      if not k.startswith((SEEN_PREFIX, HELD_PREFIX, WINDOW_COPY_PREFIX, WAITING_PREFIX, LOOKED_PREFIX))]

    def pending_bytes(self) -> int:
        files = self.tailer.status()
        if files:
            return sum(f["lag"] or 0 for f in files)
        # Not started yet: each matched file's lag behind its checkpoint (as `shipper status` tells it),
        # or all of it without one (none, or one of another file: rotated, truncated).
        saved = {(st.path, st.ino): SavedPosition(st.key, st.path, st.offset, st.ino)
                 for st in load_states(self.ctx.state)[0] if not st.gone}
        total = 0
        for path in discovery.expand(self.config.paths, self.config.exclude, self.base_dir):
            try:
                info = os.stat(path)
            except OSError:
                continue
            pos = saved.get((path, info.st_ino))
            lag = pos.lag(info) if pos is not None else None
            total += info.st_size if lag is None else lag
        return total

    def _emit(self, chunk: Chunk) -> None:
        records = chunk.records
        bad: list[int] = []
        if self._transcode:
            records = [self._to_utf8(r, i, bad) for i, r in enumerate(records)]
        elif not all(map(_IS_ASCII, records)):  # nearly every batch is ASCII: one C loop, no per-line Python
            bad = [i for i, r in enumerate(records) if not is_utf8(r)]
        flags = chunk.flags
        if bad:
            # Shipped, never dropped, and flagged (the parser may keep such a byte as `\xNN`, or as U+FFFD)
            flags = list(flags) if flags else [() for _ in records]
            for i in bad:
                flags[i] = (*flags[i], INVALID_ENCODING)
        meta = {"log": {"file": {"path": chunk.path}}} if chunk.path else None
        self.ctx.emit(RawBatch(records, chunk.keys, chunk.checkpoint, chunk.nbytes, meta, flags))

    def _to_utf8(self, record: bytes, i: int, bad: list[int]) -> bytes:
        try:
            return record.decode(self.config.encoding).encode("utf-8")
        except UnicodeDecodeError:
            bad.append(i)
            # the byte that is not in the encoding passed on as it is: the parsers and event.original then
            # treat it as they treat a byte that is not UTF-8 in a UTF-8 log
            return record.decode(self.config.encoding, "surrogateescape").encode("utf-8", "surrogateescape")

    def _update_lag(self) -> None:
        t = self.tailer
        self._m_unreadable.set(len(t.unreadable))
        self._m_undecided.set(len(t.undecided))
        paths = set()
        for f in t.status():
            if f["lag"] is None:
                continue
            metrics.lag_bytes.labels(self.config.name, f["path"]).set(f["lag"])
            paths.add(f["path"])
        for gone in self._lag_paths - paths:
            try:
                metrics.lag_bytes.remove(self.config.name, gone)
            except KeyError:
                pass
        self._lag_paths = paths

    def run(self) -> None:
        """Follow (_follow), looking at the files' sizes while ctx.emit holds the thread (backpressure): a file cut
        back above what was read meanwhile is then a named loss (Tailer.look_at_all)."""
        # (Called inside ctx.emit, from the reads that hold self._lock already: not taken again.)
        with looking_while_held(self._look_while_held):
            self._follow()

    def _look_while_held(self) -> None:
        """The files' sizes noted (Tailer.look_at_all), and those grown beyond what was delivered saved at once: a
        kill -9 during the outage keeps them (looks.to_keep)."""
        self.tailer.look_at_all()
        self._keep_looks(True)

    def _keep_looks(self, grown: bool) -> None:
        if kept := self.tailer.looks_to_keep(grown):
            self.ctx.note(kept)

    def _follow(self) -> None:
        """With inotify working: after the gather window, read only the files the watcher
        saw written to; a full pass (scan, read every file) when it saw a file created, renamed or
        deleted, every rescan_interval (the safety net) and every poll_interval only while a
        decision waits for one; the few files inotify cannot report on are read every
        poll_interval. Without inotify: a full pass every poll_interval. In between the thread
        sleeps: an idle source wakes for the housekeeping walk and the rescan only (and at once
        for a stop, when ctx.stop can wake it: shipper.waking_event)."""
        stop = self.ctx.stop
        t = self.tailer
        self._warn_literal_brackets()
        with _followed_lock:
            if self.config.name in _ran:
                t.held_named()
            _ran.add(self.config.name)
        if self.ctx.once:
            self._run_once()
            return
        roots = discovery.watch_roots(self.config.paths, self.base_dir)
        watcher = ChangeWatcher(roots, gather=self.config.gather_interval)
        watcher.start()
        wakes_on_stop = isinstance(stop, WakingEvent)
        if isinstance(stop, WakingEvent):
            stop.add_waker(watcher.wake_to_stop)  # (its gather window too)
        t.wake_after_lapses(watcher.wake)  # (a stop or freeze ended: attest the files it left untouched)
        if self._taken is not None:
            # What the predecessor held (and had open) goes on being held; this tailer takes it at its
            # first scan, where the checkpoint's positions say where to read it from.
            self.holder, self._taken = self._taken, None
            t.holder = self.holder
        elif self.config.hold_max_files > 0:
            holder = Holder(self._hold_files(), self.config.hold_max_bytes)
            if holder.start():
                self.holder = t.holder = holder
        held_new = threading.Event()  # the holder holds a file it did not know: scan to take it

        def look(paths: set[str]) -> None:
            with self._lock:
                t.look_at(paths)  # (before the gather window: a cut inside it takes bytes a look saw)

        def note(batch: Changes) -> None:
            with self._lock:  # (before any look or scan that follows them: a touch is not a cut)
                t.noted(batch.written, batch.touched, batch.overflowed)

        def drain() -> None:  # (from the tailer's looks, with self._lock held: a read's, the looks while held)
            watcher.drain(lambda batch: t.noted(batch.written, batch.touched, batch.overflowed))

        t.drain_events = drain

        def on_held() -> None:
            held_new.set()
            watcher.wake()

        glob_folders = {root for root, recursive in roots if not recursive}  # where new files may appear
        folder_globs = discovery.FolderGlobs(self.config.paths, self.base_dir)

        def hold_folders(family_folders: set[str]) -> set[str]:
            # And where a folder the globs reach may appear: the holder watches it at once when it does.
            return glob_folders | folder_globs.appear_folders(family_folders)

        if self.holder is not None:
            self.holder.on_held = on_held
            # What it holds by itself while this tailer lags is noted in the checkpoint (through the writer):
            # a kill -9 then leaves the next start what to name (shipper/tail/held_record.py).
            self.holder.saver.note = self.ctx.note
            self.holder.folder_globs = folder_globs
            # Watched before the first look, which lists the files and then opens them one by one (10,000:
            # ~15 s): a file it listed and that a rotation renamed before the look opened it is held, and
            # read through the holder's descriptor (Prospector._scan), not lost to the next rotation.
            first = set(discovery.expand(self.config.paths, self.config.exclude, self.base_dir))
            self.holder.watch_more(first, hold_folders({os.path.dirname(p) for p in first}), self._globbed)
        poll_interval = self.config.poll_interval
        next_poll = 0.0  # without inotify the full pass; with it, the files it cannot report on
        next_rescan = 0.0  # the full pass with inotify working (the first pass is now)
        rescan_every = self.config.rescan_interval
        next_housekeeping = 0.0
        scan_now = True
        changes = None  # what the watcher reported while we waited; the first pass scans anyway
        read_since_lag = True  # the lag metrics are out of date
        unwatched = False  # files inotify cannot report on (known after each full pass)
        try:
            while not stop.is_set():
                now = time.monotonic()
                poll = now >= next_poll
                notified = watcher.inotify and not watcher.missing_watches
                if scan_now or now >= next_rescan or (poll and (not notified or t.needs_rescan())):
                    held_new.clear()  # (this scan takes what is held now)
                    pass_began = time.thread_time()
                    with self._lock:
                        t.scan()
                        self._claim_followed()
                        # Watch before reading: a backlog read can take long, rotations go on.
                        watcher.watch_folders(t.folders())
                        if self.holder is not None:
                            opened = {k: (f.family, f.fh.fd) for k, f in t.files.items() if f.fh is not None}
                            self.holder.follow({f.family for f in t.files.values()},
                                               {k: fam for k, (fam, _) in opened.items()},
                                               hold_folders({os.path.dirname(f.family) for f in t.files.values()}),
                                               self._globbed, {k: generation(fd) for k, (_, fd) in opened.items()})
                        self.ctx.looked()  # (after the first: followed by identity, watched, held)
                        read_some = t.read_all(self._emit, stop)
                        unwatched = bool(t.unwatched())
                    if not read_some:  # (a pass that read lines says nothing of a quiet one's cost)
                        rescan_every = self._rescan_every(time.thread_time() - pass_began)
                    if poll:
                        next_poll = now + poll_interval
                    if now >= next_rescan:
                        next_rescan = now + rescan_every * random.uniform(0.9, 1.1)
                    scan_now, read_since_lag = False, True
                else:
                    if changes is not None and changes.paths:
                        with self._lock:
                            scan_now = t.read_changed(changes.paths, self._emit, stop)
                        changes = None
                        read_since_lag = True
                        if scan_now:
                            continue
                    if poll:
                        if self.holder is not None and self.holder.owing():
                            with self._lock:
                                t.report_escapes()  # files a storm's last rotations took away unseen
                        # Nothing waits for a full pass: read only what inotify cannot report on.
                        if unwatched:
                            with self._lock:
                                t.read_unwatched(self._emit, stop)
                                unwatched = bool(t.unwatched())
                            read_since_lag = True
                        next_poll = now + poll_interval
                # Tidy up (a walk over every file): every poll without inotify, else every
                # HOUSEKEEPING seconds; the lag metrics only if something was read meanwhile.
                if now >= next_housekeeping or (poll and not notified):
                    with self._lock:
                        t.close_idle()
                        self._update_failing()  # an unreadable file reads nothing: not only after a read
                        self._keep_looks(False)  # (the sizes looked at kept while held: those past, deleted)
                        if read_since_lag:
                            self._update_lag()
                            read_since_lag = False
                    next_housekeeping = now + max(HOUSEKEEPING, poll_interval)
                if stop.is_set():
                    break
                wake_at = min(next_rescan, next_housekeeping)
                if not notified or unwatched or t.needs_rescan() or (self.holder is not None and self.holder.owing()):
                    wake_at = min(wake_at, next_poll)
                timeout = wake_at - time.monotonic()
                if not wakes_on_stop:
                    timeout = min(STOP_CHECK, timeout)  # a stop is seen that soon
                changes = watcher.wait(timeout, look, note)
                scan_now = changes.structure or held_new.is_set()
                with self._lock:
                    t.attest()  # (woken after a stop or a freeze: before any cut it reports is decided)
            if not self._restarting:  # (a reload hands the open files to the next tailer, which reads them on)
                with self._lock:
                    t.bury_deleted(self._emit)
            else:
                # The writes and touches the watcher saw since they were last noted (the reader held by the output
                # meanwhile) go to the successor with the looks: a log written to and cut back just before the
                # restart is told by them (Tailer.hand_looks_over)
                with self._lock:
                    drain()
        finally:
            if isinstance(stop, WakingEvent):
                stop.remove_waker(watcher.wake_to_stop)
            t.wake_after_lapses(watcher.wake, False)
            t.drain_events = None
            watcher.stop()
            if self.holder is not None and not self._restarting:
                with self._lock:  # files that came and went unread since the last look (frozen, behind)
                    t.report_escapes(stopping=True)
                    t.know_unread_at_stop()  # and those still there: known to what the stop saves
                    t.flush(self._emit)
            t.holder = None
            if self.holder is not None:
                self.holder.on_held = None  # (a successor sets its own)
                self.holder.saver.note = None
            if not self._restarting:
                named = self._let_go(self.holder, LET_GO_STOPPED)
                self.holder = None
                with self._lock:  # (their loss named now: saved gone, or the next start names it again)
                    t.bury_let_go(named)  # (none named too: what the stop saves knows the let-go has run)
                    t.flush(self._emit)
            # (Restarting: the holder goes on holding until hand_over, or close() lets it go.)
            self._run_over = True

    def _rescan_every(self, pass_cpu: float) -> float:
        """The safety rescan's interval after a quiet pass that took `pass_cpu` seconds of this thread's
        CPU: rescan_interval as set, or, left unset, stretched to keep within RESCAN_BUDGET."""
        every = self.config.rescan_interval
        if "rescan_interval" in self.config.model_fields_set:
            return every
        return max(every, min(RESCAN_STRETCH_MAX, pass_cpu / RESCAN_BUDGET))

    def restarting(self) -> None:
        self._restarting = True

    def removing(self) -> None:
        self._restarting = self._removed = True  # (held to hand_over, as for a restart; the core closes it at once)

    def hand_over(self) -> _HandedOver | None:
        """The holder, still holding what appeared meanwhile, and the descriptors of the files the
        tailer had open (a rotated file deleted since is readable only through them): a restart by a
        reload while an output is down let them go, and every file rotated away was lost."""
        holder = self.holder
        if holder is None:
            return None
        # Deleted or moved away first (nothing else reaches them), then rotated, then live files.
        open_files = sorted((f for f in self.tailer.files.values() if f.fh is not None),
                            key=lambda f: (not (f.deleted or f.unnamed), f.path == f.family))
        files: list[tuple[int, str, str, int | None, float]] = []
        try:
            for f in open_files:
                if f.fh is not None:
                    files.append((os.dup(f.fh.fd), f.path, f.family, f.read_upto(), f.active_at))
        except OSError:  # (EMFILE) nothing handed over: close() lets go of all, and names it
            for fd, *_ in files:
                os.close(fd)
            raise
        self.holder = None
        self._files_let_go = True  # (theirs to name now)
        removed = _Removal(self.tailer, self.ctx.saved) if self._removed and self.ctx.saved is not None else None
        return _HandedOver(holder, files, self.tailer.ledger.let_go, self._name_escapes,
                           lambda deleted: self._unsaved_at_let_go(deleted, holder), removed,
                           self.tailer.hand_looks_over())

    def _unsaved_at_let_go(self, deleted: set[tuple[int, int]], holder: Holder | None = None) -> dict[str, Any]:
        """The states to save when what was handed over is let go untaken (`deleted`: the files let go unread;
        `holder`: the holder handed over)."""
        tailer, saved_of = self.tailer, self.ctx.saved
        if saved_of is None:
            return {}
        keys = [f.state.key for f in tailer.files.values() if f.state is not None]
        keys += [lo.state.key for lo in tailer.loose.values()]
        saved = {k: v for k in keys if (v := saved_of(k)) is not None}
        return {**tailer.unsaved_states(saved, let_go=deleted), **self._held_let_go(holder, saved_of)}

    def _held_let_go(self, holder: Holder | None, saved_of: Callable[[str], Any]) -> dict[str, Any]:
        """What to save of the files `holder` holds deleted, about to be let go unread with it (a stop during the
        reload's wait; no successor took them): the let-go names their unread bytes lost (LossLedger.let_go), and
        this save goes with that naming, so that the next start names none of them again:
        - one look_ahead found: saved gone, read up to where it was found (it was named again, with the size
          found at the look, not the size lost);
        - one the holder held by itself: its entry retired (held_record.py; left, the next start named ~6 files
          again as held "when it ended without a stop": tests/e2e/test_attack13_stop_in_reload_wait_loss_named_twice.py).
        A held file still under a name keeps its entry: deleted before the next start, that start names it."""
        out: dict[str, Any] = {}
        for h in list(holder.held.values()) if holder is not None else []:
            try:
                if os.fstat(h.fd).st_nlink:
                    continue
            except OSError:
                continue
            if saved_of(entry := held_key((h.dev, h.ino))) is not None:
                out[entry] = None
            key = self._looked.get((h.dev, h.ino))
            value = saved_of(key) if key is not None else None
            if key is not None and isinstance(value, dict) and type(value.get("offset")) is int:
                out[key] = {**value, "size": value["offset"], "gone": time.time()}
        return out

    def _name_escapes(self, escaped: dict[str, int]) -> None:
        # (No self._lock, as for _let_go's naming: after run(), or from a thread that a blocked run() holding the
        # lock would otherwise hang.)
        self.tailer.ledger.escapes(escaped, self.tailer.prospector.families)

    @classmethod
    def takes_over(cls, config: Any) -> bool:
        return config.hold_max_files > 0  # (nothing is held without a budget: hold_max_files 0)

    def _hold_files(self) -> int:
        """hold_max_files within what the descriptor limit leaves the holder; said when it is less."""
        files = hold_budget(self.config.hold_max_files)
        if files < self.config.hold_max_files:
            self.ctx.logger.warning(
                f"hold_max_files {self.config.hold_max_files} is more than the descriptor limit leaves: at most "
                f"{files} rotated files are held (by every file source together: a quarter of the soft limit, less "
                "64; raise LimitNOFILE, see docs/operations.md)", extra={"hold_max_files": self.config.hold_max_files, "held_at_most": files})
        return files

    def take_over(self, handed: _HandedOver) -> None:
        """Within this source's budget (`hold_max_files`/`hold_max_bytes`, perhaps lowered by the
        reload): what the holder holds beyond it is let go (holder.trim), and the predecessor's
        open files are held while there is room. A file not held is found by this tailer's first
        scan under its name, or, deleted meanwhile, reported lost from its checkpoint. The sizes its looks saw go
        on too (looks.py)."""
        if handed.looks is not None:
            self.tailer.take_looks(handed.looks)
        if self.ctx.once or self.config.hold_max_files <= 0:
            handed.close()
            return
        holder = handed.holder
        # (Lowered or not: a budget full at the restart refuses files too, and must not be blamed on a change
        # no reload made: exam23, session 20, a SIGHUP storm changing tags only.)
        lowered = self._hold_files() < holder.max_files or self.config.hold_max_bytes < holder.max_bytes
        holder.max_files = self._hold_files()
        holder.max_bytes = self.config.hold_max_bytes
        files, handed.files = handed.files, []
        refused: list[str] = []
        let_go: list[tuple[int, str, int | None]] = []  # deleted ones refused: (a copy of its fd, family, bytes saved)
        try:
            # The deleted files the holder held by itself beyond the lowered budget: named with the others below
            # (from what their saved states say was delivered, else their start), not as escapes of unknown size
            let_go.extend((fd, fam, self.tailer.saved_offset(fd)) for fd, fam in holder.trim())
            for fd, path, fam, read, active_at in files:
                kept = os.dup(fd)
                if holder.adopt(fd, path, fam, read, active_at):
                    os.close(kept)
                    continue
                refused.append(path)
                if os.fstat(kept).st_nlink:
                    os.close(kept)  # (under a name: this tailer's first scan finds it)
                else:  # its bytes go with this last descriptor: what no delivered batch saved is lost now
                    let_go.append((kept, fam, self.tailer.saved_offset(kept)))
            # Named now, with their size, and their saved states buried: found gone later, they were named "an
            # unknown number of bytes … written after the last read", or not at all when no state of them was saved
            # (tests/tail/test_attack15_reload_hold_budget_lowered_loss_unsized.py).
            named = self.tailer.ledger.let_go(let_go, LET_GO_BUDGET if lowered else LET_GO_BUDGET_FULL)
            self.tailer.bury_refused({(st.st_dev, st.st_ino) for st in map(os.fstat, (fd for fd, _, _ in let_go))},
                                     named)
        finally:
            for fd, _, _ in let_go:
                os.close(fd)
        if refused:
            self.ctx.logger.warning(
                f"the budget for holding rotated files is full: {len(refused)} file(s) this source had open are not "
                f"held across the reload (limits {holder.max_files} files / {holder.max_bytes} bytes); deleted "
                "before they are read again, their unread bytes are reported lost", extra={"path": refused[0]})
        self._taken = holder

    def _warn_literal_brackets(self) -> None:
        """A `paths` entry naming a file whose name holds glob characters ('app[1]/x.log') is a glob, and
        matches nothing (the [1] matches '1'): said once at the start, else the source would stay silent."""
        for pattern in self.config.paths:
            full = os.path.join(self.base_dir, os.path.expanduser(pattern))
            if (glob.has_magic(full) and os.path.lexists(full)
                    and not discovery.expand([pattern], self.config.exclude, self.base_dir)):
                self.ctx.logger.warning(
                    f"source {self.config.name}: paths entry {pattern!r} is a glob and matches nothing, but a file "
                    f"of that very name exists: escape [, * and ? in a literal name ({glob.escape(pattern)!r})",
                    extra={"path": full})

    def _globbed(self, path: str) -> bool:
        return discovery.glob_matches(path, self.config.paths, self.config.exclude, self.base_dir)

    def _run_once(self) -> None:
        """Read everything there is now, rotated backups included; return when a scan finds
        nothing new (and files missing since the start have had time to be declared gone)."""
        t = self.tailer
        t.read_bounds = {}  # each file read up to its size when first met: what is there now, not a writer's next lines
        started = time.monotonic()
        scans = 0
        while not self.ctx.stop.is_set():
            with self._lock:
                t.scan()
                self._claim_followed()
                self.ctx.looked()
                scans += 1
                got = t.read_all(self._emit, self.ctx.stop)
            settled = scans >= 2 and time.monotonic() - started >= 1.0
            if not got and settled and not t.awaiting_gone():
                break
            if not got and settled and scans > 6:
                break
            if not got:
                self.ctx.stop.wait(0.25)
        with self._lock:
            t.flush(self._emit)
            self._update_lag()

    def _let_go(self, holder: Holder | None, why: str) -> set[tuple[int, int]]:
        """Stop `holder` (if any); the deleted files it and the tailer hold open that are let go
        unread (the tailer's files once: at a stop, unless handed over) are named lost. Returns the
        (device, inode) of those named."""
        files: list[tuple[int, str, int | None]] = []
        if not self._files_let_go:
            self._files_let_go = True
            files = [(f.fh.fd, f.family, f.read_upto()) for f in self.tailer.files.values() if f.fh is not None]
        followed = {(f.dev, f.ino): f for f in self.tailer.files.values()}

        def read_of(h: Held) -> int | None:
            f = followed.get((h.dev, h.ino))  # (followed, identified: the tailer reads it through the holder's fd)
            return f.read_upto() if f is not None and f.state is not None else h.read

        if holder is None:
            return self.tailer.ledger.let_go(files, why)
        named: set[tuple[int, int]] = set()
        holder.stop(lambda held: named.update(self.tailer.ledger.let_go(files + [(h.fd, h.family, read_of(h))
                                                                                for h in held], why)))
        return named

    def unsaved_state(self, saved: dict[str, Any]) -> dict[str, Any]:
        return {**self.tailer.unsaved_states(saved), **self._held_let_go(self.holder, saved.get)}

    def seen_unsaved(self, saved: dict[str, Any]) -> dict[str, Any]:
        return self.tailer.looked_unsaved(saved)

    def look_ahead(self, config: Any, load_saved: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """The first look at the paths `config` adds, by a tailer of its own, as the successor's first scan would
        take it (its backups history, the live file at its start or, `read_from: end`, its end): the states of
        the files it found, at the position each was found at, and the families and globs it looked through. A
        rotation before the successor's first scan is then a rotation of a file it knows: read whole."""
        added = [p for p in config.paths if p not in self.config.paths]
        if not added:
            return {}
        saved = load_saved()
        t = Tailer(added, config.exclude, self.base_dir, dict(saved), read_from=config.read_from,
                   max_line_bytes=config.max_line_bytes, close_inactive=config.close_inactive,
                   batch_lines=config.batch_size, logger=self.ctx.logger, saved=saved.get)
        t.held_named()  # (it names no file lost)
        # The holder kept for the successor (restarting) watches the added paths from this look on, and holds
        # what the look found, within its budget: rotated and deleted before the restart (the wait lasts as
        # long as the output is down), those files were in no name and no descriptor, their lines lost.
        holder = self.holder if self._run_over else None  # (a run() still returning would watch its own paths)
        if holder is not None:
            holder.watch_more(set(discovery.expand(added, config.exclude, self.base_dir)),
                              {root for root, recursive in discovery.watch_roots(added, self.base_dir) if not recursive},
                              lambda path: discovery.glob_matches(path, added, config.exclude, self.base_dir))
        try:
            t.scan()
            found = {**t.pending.take(), **t.unsaved_states(saved, let_go=())}  # (it names no file lost)
            if holder is not None:
                for f in t.files.values():
                    if f.fh is not None and holder.adopt(os.dup(f.fh.fd), f.path, f.family,
                                                         f.state.offset if f.state else f.start):
                        # (a file still empty too: its placeholder knows its inode)
                        self._looked[(f.dev, f.ino)] = (f.state or t.prospector.matcher.placeholder(f)).key
        finally:
            t.close()
        # (What it says of the paths it does not look at, out of its scope, is not the successor's to start from.)
        return {k: v for k, v in found.items() if k not in saved and v is not None}

    def close(self) -> None:
        # Kept for a successor that never took it (a stop during a reload's wait, a later reload dropping this
        # source), or never run: what came and went while it waited was read by no run() (which names it at
        # its end, tailer.report_escapes), and is named here, as run()'s end would have.
        if self._removed and self.holder is not None:
            # Removed, and let go without its hand-over's close (the agent stopped during the reload's wait, or the
            # reload let go of it before its run() returned: a long parse, a hung read): its deleted files named from
            # what was delivered as that close would have, and saved gone. Named from what was read, the rest was
            # named by no one: the next start has no such source (and its run() still returning holds nothing now).
            handed = self.hand_over()
            states = handed.close() if handed is not None else {}
            if states:
                self.ctx.note(states)
        for holder in (self.holder, self._taken):
            if holder is not None:
                self._name_escapes(holder.take_at_stop())
        self._let_go(self.holder, LET_GO_STOPPED)
        if self._taken is not None:
            self._let_go(self._taken, LET_GO_STOPPED)
        self.tailer.close()
        self.holder = self._taken = None
        with _followed_lock:
            self._unclaim(self._claimed)
            self._unclaim_inodes(self._claimed_inodes)
            self._claimed_inodes = set()
            if self._restarting and not self._removed:  # (its successor's first scan says what moved)
                _restarted[self.config.name] = _restarted.get(self.config.name, set()) | self._claimed
            else:
                _restarted.pop(self.config.name, None)
            self._claimed, self._undecided = set(), set()
        # A source restarted by a reload makes a new FileSource under the same name: the series of
        # paths only this one knew (a dated file name since gone) would stay for ever otherwise.
        for path in self._lag_paths:
            try:
                metrics.lag_bytes.remove(self.config.name, path)
            except KeyError:
                pass
        self._lag_paths = set()

