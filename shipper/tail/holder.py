"""Holding rotated files open the moment they appear, whatever the reader is doing.

The reader stops under backpressure (an output down) and freezes with the process; a writer that
rotates meanwhile (Log4j MaxBackupIndex, logrotate) creates and deletes files it never sees. This
holder has a thread and an inotify watch on the folders of the followed families (one instance and
one thread for all the agent's holders: shared_inotify.py) whatever the reader does: on
every file created or moved in there under a family's name (the live name or a rotated one) it
opens the file at once and keeps the descriptor, so the file stays readable after it is deleted
(the kernel frees a file only when its last descriptor closes). The tailer takes the held files
at its next scan and reads them through these descriptors; it hands each back (release) once it
holds its own.

What it holds is bounded: `max_files` descriptors (a quarter kept for rotated names) and
`max_bytes` of deleted files (disk space the holder keeps from being freed). A file that cannot be held — the budget is full, or it was
gone before the holder could open it (the agent was frozen, or a rotation outran the thread) — is
counted per family (`escaped`); the tailer reports that as a loss of unknown size naming the
family. Escapes are counted by creations: N files created under the live name while the holder
could open only M new ones means N - M files were never seen. An inode is credited once per
family (a storm's late open of the live name finds the newest file, which catches one creation,
not all of them); a second name of a file (a hard link) is a family of its own, and catches its own
creation. A rename is no creation: IN_MOVED_TO paired with an IN_MOVED_FROM of a watched name (by
cookie) moves the file, and a file created under one name and renamed before it could be opened
(logrotate's compress, then its rotation of the .gz) is caught under the name it has now, for the
family it was created in.

New files are held too: a name the source's globs match, created in a watched folder (of a followed
family, or a glob's own folder), is its own family. A file created and deleted while the agent was
frozen is gone when the queued IN_CREATE is read: an escape of that name (a loss of unknown size,
and the file may have been empty: what is knowable is that it existed). A queue overflow (events
dropped) is an escape of every family watched and of every glob folder: a possible loss.

New folders are held too (`folder_globs`): the holder also watches where a folder the globs reach can
appear (the folders a glob's wildcard folder is in, the parent of its fixed folder, a symlink's folder).
A folder that appears there (made, renamed in, reached through a swapped symlink) is watched at once and
then listed, so a file made in between is met either way, and the files there the globs match (and their
rotated names) are held. What its log made and deleted before the watch cannot be known: when rotated
files from before the watch are there (it rotated unwatched), that is an escape of its family.
"""
from __future__ import annotations

import errno
import fcntl
import logging
import os
import stat
import sys
import threading
import weakref
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Container, Iterable, Iterator, Mapping

from shipper.fdlimit import soft_limit
from shipper.tail import birth, clock, discovery
from shipper.tail.birth import born
from shipper.tail.copy_events import CopyEvents, CopyMade
from shipper.tail.held_record import (
    HELD_PREFIX as HELD_PREFIX,  # (the file source names such keys)
    HeldRecord,
    HeldSaver,
    fingerprint,
    held_key as held_key,  # (and the key of one file's entry)
)
from shipper.tail.reader import is_gzip_path

try:
    from inotify_simple import flags

    from shipper.tail.shared_inotify import SharedInotify
except ImportError:  # pragma: no cover - no holder then: the tailer scans as before
    SharedInotify = None  # type: ignore[assignment,misc]

# What a holder watches: a file made under a name (created, or renamed to it) and a name renamed
# away (IN_MOVED_FROM, paired with its IN_MOVED_TO by cookie: a rename is no new file). And
# deletions, though nothing is done with them: the kernel merges an event with the one queued
# before it when they are the same (watch, mask, name: inotify(7)), so a name made and deleted
# again and again while the holder could not read queued one IN_CREATE for all (100 lost files
# counted as 1); an IN_DELETE between them keeps each.
HOLD_MASK = (flags.CREATE | flags.MOVED_TO | flags.MOVED_FROM | flags.DELETE) if SharedInotify is not None else 0
SETTLE_SECONDS = 3.0  # how long a creation stays owed before it is reported as escaped
BOUND = 4096  # renames and names gone unopened remembered (the oldest forgotten beyond)
FS_IOC_GETVERSION = 0x80087601  # _IOR('v', 1, long) (the kernel writes an int)

log = logging.getLogger("shipper.tail.holder")


class Escapes(int):
    """Files of a family that escaped: at most int(self), `least` of them certainly. A lagging holder
    never meets some files the tailer read in its scans (created and rotated on before the holder
    opened their names): their creations stay owed, but each such file may be one of them. `budget`:
    the budget left files of the family unheld meanwhile; `descriptors`: the process's descriptor limit
    did (EMFILE, ENFILE: the causes the warning names; else the holder was behind: rotations faster
    than it, the agent starved of CPU or frozen)."""

    least: int
    budget: bool
    descriptors: bool
    folder: str | None  # the family's folder appeared and its log rotated before it was watched

    def __new__(cls, most: int, least: int, budget: bool = False, folder: str | None = None,
                descriptors: bool = False) -> Escapes:
        e = super().__new__(cls, most)
        e.least = least
        e.budget = budget
        e.descriptors = descriptors
        e.folder = folder
        return e


def process_hold_budget() -> int:
    """The files every holder of the process may hold together: a quarter of the soft descriptor limit less 64 (the
    tailers keep up to half; the rest is the outputs', the endpoint's and the checkpoint database's). Under a
    container's `--ulimit nofile=64` the holder took every descriptor during an outage, and the output, back, could
    never connect again (tests/tail/test_attack17_holder_takes_every_descriptor.py); with eight file sources each
    holding its own quarter, so did the eight (tests/tail/test_many_sources_share_the_descriptor_limit.py)."""
    return max(4, (soft_limit() - 64) // 4)


def hold_budget(configured: int) -> int:
    """The files one holder may hold: `configured` (hold_max_files), within the process's budget."""
    return min(configured, process_hold_budget())


# Every holder of the process, for the share they hold together (weak: a holder let go of holds nothing; until then
# what it holds is open, and counts). Its lock: a WeakSet must not grow while another thread goes through it.
_holders: weakref.WeakSet[Holder] = weakref.WeakSet()
_holders_lock = threading.Lock()


def held_in_process() -> int:
    """The files every holder of the process holds now."""
    with _holders_lock:
        holders = list(_holders)
    return sum(len(h.held) for h in holders)


@dataclass
class Held:
    fd: int
    path: str  # the name it was opened under
    family: str  # the live path it belongs to
    dev: int
    ino: int
    adopted: bool = False  # a file a stopped tailer had open (adopt): its checkpoint knows it
    read: int | None = 0  # bytes of it read (adopted: by the stopped tailer; None: unknown, a .gz read in part)
    active_at: float | None = None  # (adopted) when that tailer last read it: its idle time goes on
    moved_from: str | None = None  # held as it was renamed from this watched name (a rotation of a live file: its path)


class Holder:
    def __init__(self, max_files: int = 256, max_bytes: int = 1 << 30):
        self.max_files = max_files
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self.held: dict[tuple[int, int], Held] = {}
        # What it holds by itself, for the source's checkpoint (held_record.py): a kill leaves the next start what to
        # name lost. Saved by the tailer's batches, or by the saver when the tailer lags (its `note` set by the source).
        self.record = HeldRecord()
        self.saver = HeldSaver(self.record)
        self.escaped: dict[str, int] = {}  # family -> files that appeared and could not be held
        self.full_warned = False
        self.fds_warned = False
        with _holders_lock:
            _holders.add(self)
        self._families: dict[str, dict[str, str]] = {}  # folder -> {live name: live path}
        # A family that is a rotated name of another (a glob lists the backups too, `app.log*`: app.log.1
        # is a family, and a rotated name of app.log) -> that live family: where its files were created.
        # Caught (or read) there, a file pays the creation its live name owes, not one its backup's name
        # never had (a storm's false escapes: tests/tail/test_attack8_storm_false_losses.py).
        self._created_in: dict[str, str] = {}
        self._known: set[tuple[int, int]] = set()  # inodes the tailer follows or the holder has held
        self._known_generation: dict[tuple[int, int], int | None] = {}  # of the tailer's, where known
        # Escapes are a running balance per family: files created under the live name minus files
        # caught (held, or met known for the first time, under any name of the family). In a storm
        # the holder opens a name late and finds a newer file there, already known: that catches
        # nothing (an inode is credited once a family). A creation and the event that catches its
        # file can fall into different batches, so what is owed is reported only once it outlasts one take().
        # (file, family) credited: a file is (device, inode, generation). The generation (a number the
        # file system gives an inode each time it is used again: ext4 reuses a deleted file's inode
        # at once) tells a new file on a reused inode from the old one; where the file system has none
        # (None), a credit is forgotten once the file is open nowhere, as it may be gone.
        self._credited: dict[tuple[tuple[int, int, int | None], str], None] = {}
        self._ungenerated: dict[tuple[tuple[int, int, int | None], str], None] = {}  # credits of generation None
        self._owed: dict[str, int] = {}
        # Files caught in the last batch beyond its creations, which may be creations of the next
        # batch (per family). A lagging holder opens a name late and finds a newer file there: a
        # file whose IN_CREATE is still queued (it was made before the open), so it is in the next
        # read at the latest. Such a catch pays a creation of the next batch, then expires; left
        # out, the last creations of a storm found their files credited already, and were called
        # escaped while every file was held. (Only catches that may be files made under the live
        # name: met at the live name, or renamed to a plain name; not a .gz, nor a copy made under
        # a rotated name, which would hide a real escape.)
        self._advance: dict[str, int] = {}
        # What each family owed at the takes of the last `settle` seconds: a lagging holder meets a
        # file it owes for late (at the file's next rename, a scan or more after its creation), so
        # only what stayed owed that long (and over two takes at least) is an escape.
        self.settle = SETTLE_SECONDS
        self._owed_seen: dict[str, list[tuple[float, int]]] = {}
        self._certain: dict[str, int] = {}  # of self.escaped, how many are certain (see Escapes)
        self._refused: set[str] = set()  # families of files the budget left unheld since their last escapes
        self._out_of_fds: set[str] = set()  # families of files left unheld for want of descriptors, the same
        # Files the tailer had open that the holder never credited, per family (an ordered set): each
        # may be a creation counted as owed. Families seen before: the tailer's files at a family's
        # first sight were there before its watch, and are nobody's creation.
        self._unmet: dict[str, dict[tuple[int, int, int | None], None]] = {}
        self._families_seen: set[str] = set()
        # Renames: cookie of an IN_MOVED_FROM of a watched name -> the family whose creation the
        # file still owes ("" when none: it was caught under its old name).
        self._renames: dict[int, str] = {}
        self._unopened: dict[str, str] = {}  # path created but gone when opened -> the family it owes
        self._moved_from: dict[int, str] = {}  # cookie of an IN_MOVED_FROM of a watched name -> that name (Held.moved_from)
        # Files met at their creation under their family's live name that the budget left unheld (their
        # creation stays owed) -> None: still there when the tailer's scan has them, they were not lost, and
        # that pays the creation (1,000 new files at once were each a false "data lost": attack 12).
        self._unheld: dict[tuple[tuple[int, int, int | None], str], None] = {}
        # Files the tailer opened (inode, generation), whether or not it still has them open: such a file was met,
        # its creation is no escape. With 200 new files and 32 descriptors the tailer opened each and closed it
        # over its budget before the holder's follow() saw it open: 26-128 files named lost, none gone
        # (tests/tail/test_many_sources_share_the_descriptor_limit.py).
        self._tailer_met: dict[tuple[int, int, int | None], None] = {}
        # Files the tailer had at a family's first sight, taken as there before the watch (nobody's
        # creation): the IN_CREATE of one, read late, finds it under the live name: that pays the creation.
        # -> True when its live name was not there when its folder's watch began: it was made since, so one
        # IN_CREATE of that name is its own, and one found gone when read (ENOENT, the event naming no file) is paid
        # by it (else a file the tailer read whole, rotated away and deleted before a holder a few scans behind read
        # its creation, was named lost: tests/tail/test_holder_behind_new_files_false_escape.py).
        self._presumed: dict[tuple[tuple[int, int, int | None], str], bool] = {}
        # Folder -> the names in it just after its watch began (listed after the watch: a file made between the two
        # is taken for one there before it, which pays nothing).
        self._there_at_watch: dict[str, set[str]] = {}
        # Compressed files met under a rotated name (held or the tailer's) whose worth the tailer has not told
        # yet, per family. A .gz is made from a plain file of the family: when that file was caught too, the .gz is
        # its copy and catches nothing more; when it was not (it went through its names unopened), the .gz holds the
        # only copy of its lines. Which one is known by content only, so a .gz pays a creation only once the tailer
        # reads it as new (gz_decided). Each paid before, a .gz caught for a file whose plain form was read paid the
        # creation of another file that went unopened, plain and compressed: in a Log4j 2 `.gz` rotation storm whole
        # files went without a word (tests/tail/test_attack18_log4j2_gz_storm_unnamed.py). Until told, what the family
        # owes is not reported: each may be paid.
        # (.gz -> what holds it for the tailer: the holder's Held, or None: the tailer's own.)
        self._gz_pending: dict[str, dict[tuple[int, int, int | None], Held | None]] = {}
        self._gz_told: dict[tuple[int, int, int | None], bool] = {}  # the tailer's word on a .gz not met yet: new?
        self._hub: SharedInotify | None = None
        self._watched: dict[str, tuple[int, int] | None] = {}  # folder -> what its name pointed at
        self._unwatchable: set[str] = set()  # folders there that got no watch (warned once)
        self._match: Callable[[str], bool] | None = None  # would the source's globs list this path?
        self.overflows = 0  # inotify queue overflows (events dropped)
        # Copies made under rotated names while a file was at the live name (copy_events.py), for the tailer's scan.
        self.copy_events = CopyEvents()
        # Called (from the holder's thread) when it holds a file it did not know: the tailer should
        # scan and take it soon, before the budget fills (no creation owed need say so).
        self.on_held: Callable[[], None] | None = None
        self._overflowed: set[str] = set()  # folders whose new files may have escaped in an overflow
        # Where folders the globs reach may appear (set by the source): such a folder that appears in a
        # watched folder is watched and listed at once, not at the tailer's next scan, which a reader
        # held back by an output down (or a frozen agent) does not make: the rotated files its log made
        # and deleted meanwhile were neither held nor counted (tests/tail/test_attack16_new_folder_not_held.py).
        self.folder_globs: discovery.FolderGlobs | None = None
        self._appeared: set[str] = set()  # folders watched as they appeared (kept until gone)
        self.folder_escapes: dict[str, str] = {}  # family -> the folder that appeared unwatched (losses' wording)
        # Folders that appeared with no inotify watch to be had (the user's watches used up): nothing held there
        # until the tailer's scan follows their logs, when a rotation meanwhile counts as a folder escape.
        self._appeared_unwatched: set[str] = set()

    # ------------------------------------------------------------- the tailer's side

    def start(self) -> bool:
        """Start holding; False when inotify cannot be had."""
        if SharedInotify is None:
            return False
        try:
            self._hub = SharedInotify.join(self)
        except OSError as e:
            # inotify_init's EMFILE is either limit: the user's instances, or the process's descriptors.
            log.warning(f"cannot hold rotated files as they appear (inotify unavailable, {e}: raise "
                        "fs.inotify.max_user_instances, or LimitNOFILE when the agent is out of descriptors, see "
                        "docs/operations.md): files rotated away and deleted between two scans are lost uncounted",
                        extra={"error": str(e)})
            return False
        return True

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Events queue in the kernel meanwhile (as when the agent is frozen); handled at the end."""
        assert self._hub is not None
        with self._hub.paused():
            yield

    def follow(self, families: set[str], known: set[tuple[int, int]] | Mapping[tuple[int, int], str],
               folders: Iterable[str] = (), match: Callable[[str], bool] | None = None,
               generations: Mapping[tuple[int, int], int | None] | None = None) -> None:
        """Watch the folders of these live paths; `known`: inodes the tailer follows now (with their
        family, when a mapping: the count of escapes then knows how many are certain); `folders`:
        more folders where a new file the globs match (`match`) may appear; `generations`: of the
        known inodes (generation()), so that a new file on an inode number the tailer had open at
        its last scan, closed since, is not taken for the tailer's (and left unheld)."""
        by_folder: dict[str, dict[str, str]] = {f: {} for f in folders}
        with self._lock:
            self._appeared = {f for f in self._appeared if os.path.isdir(f)}
            self._appeared_unwatched = {f for f in self._appeared_unwatched if os.path.isdir(f)}
            for f in self._appeared:
                by_folder.setdefault(f, {})
        for fam in families:
            folder, name = os.path.split(fam)
            by_folder.setdefault(folder, {})[name] = fam
        with self._lock:
            if by_folder != self._families:
                self._created_in = {}
                for names in by_folder.values():
                    self._created_in.update(discovery.live_names_of(names))
            self._families = by_folder
            self._match = match
            self._known = set(known) | set(self.held)
            # (The held files' generations kept: see on_events.)
            self._known_generation = {**{k: g for k, g in self._known_generation.items() if k in self.held},
                                      **(generations or {})}
            # A file open nowhere may be gone, its inode given to another.
            if self._ungenerated:  # (few: only on a file system without generations)
                for c in [c for c in self._ungenerated if c[0][:2] not in self._known]:
                    del self._ungenerated[c]
                    self._credited.pop(c, None)
            if isinstance(known, Mapping):
                met: dict[str, int] = {}  # family -> files left unheld at their creation, the tailer's now
                for key, fam in known.items():
                    fam = self._created_in.get(fam, fam)
                    ident = (*key, self._known_generation.get(key))
                    if self._unheld.pop((ident, fam), 0) is None:
                        self._credit_ident(ident, fam, met)
                    elif fam not in self._families_seen:  # there before the family's watch: nobody's creation
                        self._presume_locked(ident, fam)
                    elif (ident, fam) not in self._credited:
                        _bounded_put(self._unmet.setdefault(fam, {}), ident, None)
                self._paid_locked(met)
                self._families_seen = set(families)
                self._unmet = {fam: keys for fam, keys in self._unmet.items() if fam in families}
            hub = self._hub
            if hub is None:
                return
            # A folder reached through a symlink that now points elsewhere is watched again.
            moved = {f for f in self._watched.keys() & by_folder.keys()
                     if discovery.folder_identity(f) != self._watched.get(f)}
            for folder in list((self._watched.keys() - by_folder.keys()) | moved):
                del self._watched[folder]
                self._there_at_watch.pop(folder, None)
                hub.unwatch(self, folder)
            for folder in by_folder.keys() - self._watched.keys():
                pointed = discovery.folder_identity(folder)  # before the watch: a swap meanwhile is seen next time
                if hub.watch(self, folder, HOLD_MASK):
                    self._watched[folder] = pointed
                    self._listed_at_watch_locked(folder)
                    self._unwatchable.discard(folder)
                elif pointed is not None:
                    self._no_watch_locked(folder)
            for folder in self._appeared_unwatched & by_folder.keys():
                self._appeared_unwatched.discard(folder)
                self._rotated_while_unwatched_locked(folder, by_folder[folder])

    def _listed_at_watch_locked(self, folder: str) -> None:
        """With self._lock held: the watch of `folder` has just begun: the names there now, kept."""
        try:
            self._there_at_watch[folder] = set(os.listdir(folder))
        except OSError:
            self._there_at_watch.pop(folder, None)  # (not known: no presumed file there pays an unopened creation)

    def _no_watch_locked(self, folder: str) -> None:
        """With self._lock held: `folder` is there, yet the kernel gives no watch (the user's inotify watches all
        taken, by any of its programs): nothing is held there. Said once per folder."""
        if folder in self._unwatchable:
            return
        self._unwatchable.add(folder)
        log.warning(f"cannot hold rotated files in {folder} as they appear: the kernel gives no inotify watch there "
                    "(fs.inotify.max_user_watches used up by this user's programs? see docs/operations.md): files "
                    "rotated away and deleted between two scans are lost, uncounted", extra={"path": folder})

    def _rotated_while_unwatched_locked(self, folder: str, names: Mapping[str, str]) -> None:
        """With self._lock held: `folder` appeared with no watch to be had, and the tailer's scan follows its logs now
        (`names`: live name -> family). Each log with a rotated name there rotated while nothing held its files: the
        rotations past its backups deleted files no one read (how many, possibly none, is not known), named as a
        folder escape. (Unsaid, a reader held back by an output down lost the first files of a log folder that
        appeared meanwhile without a word: tests/tail/test_hold_new_folder_no_watch.py.)"""
        try:
            listed = os.listdir(folder)
        except OSError:
            return
        for name, fam in names.items():
            if fam not in self.folder_escapes and any(discovery.is_rotated_name(name, n) for n in listed):
                self._escaped_now(fam)
                self.folder_escapes[fam] = folder

    def watch_more(self, families: set[str], folders: Iterable[str] = (),
                   match: Callable[[str], bool] | None = None) -> None:
        """Watch these live paths too (found by a listing, before the tailer follows any of them), and
        `folders` for new files `match` lists, keeping what is watched and known: a file renamed or
        made under their names from now on is held. The tailer's first look at many files is long
        (10,000 files: ~15 s, listed, then opened one by one), and a file it listed and rotated away
        before it opened it was held by nothing (follow came after the look): deleted by the next
        rotation, its lines were lost (tests/tail/test_first_look_holds.py)."""
        with self._lock:
            watched = {fam for names in self._families.values() for fam in names.values()}
            folders = set(self._families) | set(folders)
            known, generations, before = set(self._known), dict(self._known_generation), self._match
        if before is not None and match is not None and before != match:
            match = _either(before, match)
        self.follow(watched | families, known, folders, match or before, generations)

    def holding(self, key: tuple[int, int]) -> Held | None:
        """What this holder holds of the inode `key` (dev, ino), if anything (its descriptor still its own)."""
        with self._lock:
            return self.held.get(key)

    def take(self) -> tuple[list[Held], dict[str, int]]:
        """The files held now (still owned by the holder) and the escapes since the last take."""
        with self._lock:
            return list(self.held.values()), self._take_escaped()

    def take_escaped(self) -> dict[str, int]:
        """The escapes since the last take, alone (no scan needed to report them)."""
        with self._lock:
            return self._take_escaped()

    def take_at_stop(self) -> dict[str, int]:
        """At a stop, before stop(): the events still queued are read (the agent frozen, or just behind,
        has them unread: they died with it) and handled as the thread would; then every escape not
        taken yet is returned, with (nothing comes later to settle them) each owed creation whose file
        is not on disk for the next start to find. A file created under the live name that the budget
        left unheld and that is still under a name of its family is one of the owed creations: the next
        start finds it, it is not named. The others are gone, named as escapes: certainly (gone when the
        holder came to open its name, or every file there now is accounted for), or "at most" where a
        file of unknown origin is there too (it may be one of them). (Left to the next start while any
        file of the family was unheld, a storm's 200 to 450 owed files were named by nobody:
        tests/tail/test_attack14_storm_undercount.py.)"""
        hub = self._hub
        if hub is not None:
            hub.drain()
        with self._lock:
            undecided = self._gz_undecided_locked()
            traced: dict[str, int] = {}  # family -> owed files gone when the holder came to open their name
            for path, fam in self._unopened.items():
                if self._owed.get(fam) and not os.path.lexists(path):
                    traced[fam] = traced.get(fam, 0) + 1
            for fam, n in self._owed.items():
                there = self._uncredited_there(fam)
                if there is None:  # (cannot be told: only the traced ones are certainly gone)
                    most = least = min(n, traced.get(fam, 0))
                else:
                    unheld, unknown = there
                    most = max(0, n - unheld)
                    least = max(min(n, traced.get(fam, 0)), most - unknown)
                # (A compressed file still undecided is held, named with its bytes if deleted, or on disk for the next
                # start: each may be an owed file's lines.)
                most = max(0, most - undecided.get(fam, 0))
                least = min(least, most)
                if not most:
                    continue
                unmet = self._unmet.get(fam, {})
                maybe = list(unmet)[:most]  # (each file the tailer read unmet may be one of them: not certain)
                for key in maybe:
                    del unmet[key]
                self.escaped[fam] = self.escaped.get(fam, 0) + most
                self._certain[fam] = self._certain.get(fam, 0) + max(0, least - len(maybe))
                self._owed[fam] -= most
            self._owed = {fam: n for fam, n in self._owed.items() if n}
            return self._reported()

    def _uncredited_there(self, fam: str) -> tuple[int, int] | None:
        """With self._lock held: the files under a name of the family `fam` now (its live name, its rotated
        names) not credited to it: (those the budget left unheld when the holder met them, each one of its
        owed creations; the others, of unknown origin). None when that cannot be told (the folder or a
        file unreadable: one of them may be an owed file, still on disk for the next start to find)."""
        folder = os.path.dirname(fam)
        try:
            names = os.listdir(folder)
        except OSError:
            return None
        unheld = unknown = 0
        for name in names:
            of = self._family_of(folder, name)
            if of is None or self._created_in.get(of, of) != fam:
                continue
            try:
                fd = os.open(os.path.join(folder, name), os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
            except FileNotFoundError:
                continue  # (gone since the listing)
            except OSError:
                return None
            try:
                st = os.fstat(fd)
                ident = (st.st_dev, st.st_ino, generation(fd))
                if not stat.S_ISREG(st.st_mode) or (ident, fam) in self._credited:
                    continue
                if (ident, fam) in self._unheld:
                    unheld += 1
                else:
                    unknown += 1
            finally:
                os.close(fd)
        return unheld, unknown

    def _take_escaped(self) -> dict[str, int]:
        """With self._lock held. Values are Escapes (at most, at least)."""
        now = clock.monotonic()
        undecided = self._gz_undecided_locked()
        for fam, owed in self._owed.items():
            seen = self._owed_seen.setdefault(fam, [])
            seen.append((now, owed))
            while len(seen) > 2 and now - seen[1][0] >= self.settle:
                del seen[0]  # (the oldest kept is the newest at least `settle` old)
            if len(seen) < 2 or now - seen[0][0] < self.settle:
                continue
            r = min(n for _, n in seen) - undecided.get(fam, 0)
            if r > 0:
                # Each file the tailer read unmet by the holder may be one of these: not certain.
                unmet = self._unmet.get(fam, {})
                maybe = list(unmet)[:r]
                for key in maybe:
                    del unmet[key]  # (it explains one escape only)
                self.escaped[fam] = self.escaped.get(fam, 0) + r
                self._certain[fam] = self._certain.get(fam, 0) + r - len(maybe)
                self._owed[fam] = owed - r
                seen[:] = [(t, n - r) for t, n in seen]
        self._owed = {fam: n for fam, n in self._owed.items() if n}  # (no entry kept per family ever seen)
        self._owed_seen = {fam: seen for fam, seen in self._owed_seen.items() if fam in self._owed}
        return self._reported()

    def _reported(self) -> dict[str, int]:
        """With self._lock held: the escapes counted and not reported yet, as Escapes, reported now."""
        esc: dict[str, int] = {fam: Escapes(n, self._certain.get(fam, 0), fam in self._refused,
                                            self.folder_escapes.pop(fam, None), fam in self._out_of_fds)
                               for fam, n in self.escaped.items()}
        self._refused -= esc.keys()
        self._out_of_fds -= esc.keys()
        self.escaped, self._certain = {}, {}
        return esc

    def _credit_created(self, ident: tuple[int, int, int | None], fam: str, caught: dict[str, int],
                        at_creation: bool) -> None:
        """With self._lock held: the file `ident` met for `fam`; `at_creation`: met as its IN_CREATE under the live
        name is read. A file the tailer's first sight of its family presumed there before the watch (credited, paying
        nothing) proves by that event to be this creation's file: it pays it now, whether the tailer still has it
        open, or closed it since (its descriptor budget) and the holder holds it or meets it unheld. (Paid only while
        the tailer had it open, a holder a scan behind owed it on, and named it lost: 2 of 320 new files, "it was
        behind": tests/tail/test_holder_behind_new_files_false_escape.py.)"""
        if at_creation and self._presumed.pop((ident, fam), None) is not None:
            caught[fam] = caught.get(fam, 0) + 1
        else:
            self._credit_ident(ident, fam, caught)

    def _pay_presumed_locked(self, fam: str) -> bool:
        """With self._lock held: an IN_CREATE of `fam`'s live name read with its file gone. True if a file the tailer's
        first sight presumed there, made under that name since the folder's watch began, pays it: that file's own
        IN_CREATE is one of those read, and this may be it (if not, the file read is paid by its own event found gone
        as well, or found there: one creation each, whichever)."""
        key = next((k for k, made_since in self._presumed.items() if made_since and k[1] == fam), None)
        if key is None:
            return False
        del self._presumed[key]
        return True

    def _credit_ident(self, ident: tuple[int, int, int | None], fam: str, caught: dict[str, int]) -> None:
        c = (ident, fam)
        if c not in self._credited:
            _bounded_put(self._credited, c, None, 4 * BOUND)
            if ident[2] is None:
                _bounded_put(self._ungenerated, c, None, 4 * BOUND)
            caught[fam] = caught.get(fam, 0) + 1
            unmet = self._unmet.get(fam)
            if unmet:
                unmet.pop(ident, None)

    def _gz_met(self, ident: tuple[int, int, int | None], fam: str, caught: dict[str, int], held: Held | None) -> None:
        """With self._lock held: a compressed file of `fam` met (`held`: as this holder holds it; None: the tailer's):
        it pays a creation (`caught`) if the tailer read it as new already; else it waits for the tailer's word
        (gz_decided)."""
        if (ident, fam) in self._credited or ident in self._gz_pending.get(fam, {}):
            return
        told = self._gz_told.pop(ident, None)
        if told is None:
            self._gz_pending.setdefault(fam, {})[ident] = held
        elif told:
            self._credit_ident(ident, fam, caught)
        else:
            self._credit_ident(ident, fam, {})  # (met, and a copy of what was caught: it pays nothing)

    def gz_decided(self, key: tuple[int, int], gen: int | None, new: bool) -> None:
        """The tailer's word on the compressed file `key` (its generation `gen`): read as new content from its start
        (`new`: its plain form went unopened, so it pays that file's creation), or not (a copy of a content read)."""
        ident = (*key, gen)
        with self._lock:
            for fam, pending in self._gz_pending.items():
                if ident in pending:
                    del pending[ident]
                    paid: dict[str, int] = {}
                    self._credit_ident(ident, fam, paid if new else {})
                    if paid and self._owed.get(fam):
                        self._owed[fam] -= 1
                    return
            _bounded_put(self._gz_told, ident, new)

    def _gz_undecided_locked(self) -> dict[str, int]:
        """With self._lock held: per family, the compressed files met whose worth is not told yet, still held (the
        same Held: ext4 gives a freed inode to the next file at once) or the tailer's. One that is neither was let go
        untold (a copy the tailer left alone): it pays nothing, and is forgotten."""
        for fam, pending in list(self._gz_pending.items()):
            for ident in [i for i, h in pending.items() if (self.held.get(i[:2]) is not h if h is not None
                                                             else i[:2] not in self._known)]:
                del pending[ident]
                self._credit_ident(ident, fam, {})
            if not pending:
                del self._gz_pending[fam]
        return {fam: len(pending) for fam, pending in self._gz_pending.items()}

    def _escaped_now(self, fam: str) -> None:
        """With self._lock held: one file of `fam` certainly not held."""
        self.escaped[fam] = self.escaped.get(fam, 0) + 1
        self._certain[fam] = self._certain.get(fam, 0) + 1

    def tailer_opened(self, key: tuple[int, int], gen: int | None, family: str) -> None:
        """The tailer opened this file (inode `key`, generation `gen`) of `family`: met, its creation is
        caught, whenever the holder meets it (before: it was left unheld; after: not held for it)."""
        ident = (*key, gen)
        with self._lock:
            if ident in self._tailer_met:
                return
            _bounded_put(self._tailer_met, ident, None, 4 * BOUND)
            fam = self._created_in.get(family, family)
            if self._unheld.pop((ident, fam), 0) is None:  # (left unheld at its creation: the tailer's now)
                met: dict[str, int] = {}
                self._credit_ident(ident, fam, met)
                self._paid_locked(met)
            elif fam not in self._families_seen:
                # Opened before follow() first saw its family (the first look): there before, as follow() takes the
                # files the tailer has open then. Closed since (a descriptor budget of one file under nofile=64), it
                # was in no follow(), and met at its first rename it paid the creation of a file that went unheld:
                # one escape a family unnamed (tests/tail/test_attack24_many_families_low_nofile_files_unnamed.py).
                self._presume_locked(ident, fam)

    def _presume_locked(self, ident: tuple[int, int, int | None], fam: str) -> None:
        """With self._lock held: the file `ident`, met by the tailer at its family's first sight, taken as there before
        the family's watch (nobody's creation: credited, paying nothing); presumed made since the watch when its live
        name was not there as the watch began (its IN_CREATE, read late, then pays the creation)."""
        if (ident, fam) not in self._credited:
            folder, name = os.path.split(fam)
            there = self._there_at_watch.get(folder)
            _bounded_put(self._presumed, (ident, fam), there is not None and name not in there)
        self._credit_ident(ident, fam, {})

    def _paid_locked(self, met: dict[str, int]) -> None:
        """With self._lock held: the creations owed by these families paid by the files met (family -> files)."""
        for fam, n in met.items():
            if self._owed.get(fam, 0) > n:
                self._owed[fam] -= n
            else:
                self._owed.pop(fam, None)

    def tailer_closed(self, key: tuple[int, int]) -> None:
        """The tailer closed its descriptor of this inode between scans (over its descriptor budget,
        idle): a rename of it is held from now on. Still taken for the tailer's, it was left unheld,
        and rotated away and deleted before the next scan it was a false "rotated away" loss (3,000
        files under a 1024-descriptor limit: test_attack5_descriptor_limit_false_loss.py)."""
        with self._lock:
            if key not in self.held:
                self._known.discard(key)

    def release(self, key: tuple[int, int]) -> None:
        with self._lock:
            h = self.held.pop(key, None)
            self.record.let_go(key)  # (the tailer's now: its checkpoint knows it)
        if h is not None:
            os.close(h.fd)

    def adopt(self, fd: int, path: str, family: str, read: int | None = 0, active_at: float | None = None) -> bool:
        """Hold `fd` (the holder owns it now): a file a stopped tailer had open, kept for the tailer
        that succeeds it (a reload restarting the source) — within the budget like any file held:
        beyond it `fd` is closed and False returned. (Not held, the file is the successor's to find:
        under its name by a scan, or, deleted meanwhile, missing from where its checkpoint says,
        which the successor reports as a loss of the bytes unread.)"""
        st = os.fstat(fd)
        key = (st.st_dev, st.st_ino)
        with self._lock:
            if key not in self.held:
                if self._full(reserve=False) or (
                        st.st_nlink == 0 and self._held_bytes_locked() + st.st_size > self.max_bytes):
                    os.close(fd)
                    return False
                self.held[key] = Held(fd, path, family, *key, adopted=True, read=read, active_at=active_at)
                self._known.add(key)
                self._known_generation[key] = generation(fd)
                return True
        os.close(fd)
        return True

    def trim(self) -> list[tuple[int, str]]:
        """Let go of what is held beyond the budget (lowered by a reload): files still under their
        names first (a scan finds them), a deleted file last, the largest first. The deleted files the
        holder held by itself are returned, (descriptor, family), for the caller to name their unread
        bytes and close (they were named an escape of unknown size: attack 16); one adopted is not:
        its checkpoint names what was unread in it."""
        let_go: list[tuple[int, str]] = []
        with self._lock:
            sized = []
            for h in self.held.values():
                try:
                    st = os.fstat(h.fd)
                    sized.append((st.st_nlink == 0, -st.st_size if st.st_nlink == 0 else 0, h))
                except OSError:
                    sized.append((False, 0, h))
            sized.sort(key=lambda x: (x[0], x[1]))
            deleted_bytes = sum(-n for _, n, _ in sized)
            for gone, neg_size, h in sized:
                over_files = len(self.held) > self.max_files
                if not over_files and deleted_bytes <= self.max_bytes:
                    break
                if not gone and not over_files:
                    continue  # (a named file costs no disk space)
                del self.held[(h.dev, h.ino)]
                self.record.let_go((h.dev, h.ino))  # (named by the caller, or found under its name)
                deleted_bytes += neg_size
                if gone and not h.adopted:
                    let_go.append((h.fd, h.family))
                else:
                    os.close(h.fd)
        return let_go

    def take_copies(self) -> list[CopyMade]:
        """The copies made under rotated names since the last call, each of the file then at its live name."""
        with self._lock:
            return self.copy_events.take()

    def take_overflowed(self) -> set[str]:
        """Folders where events were dropped (a queue overflow) since the last call."""
        with self._lock:
            out, self._overflowed = self._overflowed, set()
            return out

    def owing(self) -> bool:
        """Creations not caught yet, or escapes counted and not reported: the next take() may report them (a scan
        should come)."""
        with self._lock:
            return bool(self._owed or self.escaped)

    def held_bytes(self) -> int:
        """Disk space held: the sizes of held files that are deleted (a named file costs nothing more)."""
        total = 0
        with self._lock:
            fds = [h.fd for h in self.held.values()]
        for fd in fds:
            try:
                st = os.fstat(fd)
            except OSError:
                continue
            if st.st_nlink == 0:
                total += st.st_size
        return total

    def unread_bytes(self, skip: Container[tuple[int, int]]) -> int:
        """What the held files not in `skip` (the tailer's: it counts their lag) hold unread: each one's size less
        what was read of it (all of it when that is unknown). Held back by a down output, the tailer takes no
        held file, and a lag without them said a source nearly up to date while it held a megabyte unread."""
        total = 0
        with self._lock:  # (fstat under the lock: a descriptor let go meanwhile may already be another file's)
            for key, h in self.held.items():
                if key in skip:
                    continue
                try:
                    total += max(0, os.fstat(h.fd).st_size - (h.read or 0))
                except OSError:
                    continue
        return total

    def stop(self, let_go: Callable[[list[Held]], None] | None = None) -> None:
        """Stop holding and close what is held. `let_go`: told what is held, before it is closed (a
        deleted file's unread bytes are lost then), once no event can add to it."""
        hub, self._hub = self._hub, None
        if hub is not None:
            hub.leave(self)  # no event is handed to this holder after it returns
        if let_go is not None:
            with self._lock:
                held = list(self.held.values())
            let_go(held)
        self.saver.end()
        with self._lock:
            for key, h in self.held.items():
                os.close(h.fd)
                self.record.let_go(key)  # (named by `let_go`, or on disk for the next start: its checkpoint says)
            self.held.clear()
            self._watched.clear()

    # ------------------------------------------------------------- the shared thread's side

    def _family_of(self, folder: str, name: str) -> str | None:
        names = self._families.get(folder)
        if names is None:
            return None
        if name in names:
            return names[name]
        for live_name, fam in names.items():
            if discovery.is_rotated_name(live_name, name):
                return fam
        path = os.path.join(folder, name)
        if self._match is not None and self._match(path):
            return path  # a new file: its own family
        return None

    def on_events(self, events: list[tuple[str | None, Any]]) -> None:
        """Events of the watched folders, in order (folder None: the queue overflowed)."""
        creations: dict[str, int] = {}  # family -> files created under its live name
        caught: dict[str, int] = {}  # family -> of those, files seen now (held, or met for the first time)
        ahead: dict[str, int] = {}  # family -> of the caught, those that may be creations still queued
        overflow = False
        held_new = False
        with self._lock:
            for folder, ev in events:
                if folder is None:
                    overflow = True
                    continue
                if ev.mask & flags.IGNORED:
                    self._watched.pop(folder, None)  # the folder went: watched again when it is back
                    self._there_at_watch.pop(folder, None)
                    continue
                if not ev.name:
                    continue
                if ev.mask & flags.DELETE:
                    live = self._families.get(folder, {}).get(ev.name)
                    if live is not None:
                        self.copy_events.left_live(live)
                    continue
                path = os.path.join(folder, ev.name)
                fam = self._family_of(folder, ev.name)
                if ev.mask & flags.MOVED_FROM:
                    if path == fam:
                        self.copy_events.left_live(fam)
                    if fam is not None or path in self._unopened:
                        _bounded_put(self._renames, ev.cookie, self._unopened.pop(path, ""))
                        _bounded_put(self._moved_from, ev.cookie, path)
                    continue
                self._unopened.pop(path, None)  # another file under this name now
                renamed = bool(ev.mask & flags.MOVED_TO) and ev.cookie in self._renames
                owes = self._renames.pop(ev.cookie, "") if renamed else ""
                came_from = self._moved_from.pop(ev.cookie, None) if renamed else None
                if fam is None and came_from is not None:
                    fam = self._first_rotation_of(came_from, folder, ev.name)
                if fam is None:
                    if self.folder_globs is not None and ev.mask & (flags.CREATE | flags.MOVED_TO):
                        held_new = self._appear_locked(path) or held_new
                    continue  # (a file renamed out of the followed names: what it owes stays owed)
                if not renamed and path == fam:
                    creations[fam] = creations.get(fam, 0) + 1
                    owes = fam
                # The family this file is caught for: a file renamed in was created elsewhere.
                credit = owes or (self._created_in.get(fam, fam) if renamed else fam)
                # (A file made under the live name, met here before its own IN_CREATE is read?)
                may_be_ahead = (path == fam) if not renamed else not is_gzip_path(path)
                before = caught.get(credit, 0)
                try:
                    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
                except OSError as e:
                    if e.errno == errno.ENOENT:
                        if not renamed and path == fam and self._pay_presumed_locked(fam):
                            caught[fam] = caught.get(fam, 0) + 1  # (a file the tailer met: what it owes is paid)
                        elif owes:  # gone (or renamed on: its IN_MOVED_FROM comes next): owed until caught
                            _bounded_put(self._unopened, path, owes)
                        if path == fam:
                            self.copy_events.left_live(fam)
                        elif ev.mask & flags.CREATE:
                            self.copy_events.created_unopened(fam, path)
                    elif e.errno in (errno.EMFILE, errno.ENFILE):
                        # Out of descriptors: not held, as with the budget full (what it owes stays owed); an
                        # escape of the family names the limit, not a holder behind.
                        self._out_of_fds.add(credit)
                        if not self.fds_warned:
                            self.fds_warned = True
                            log.warning(f"cannot hold rotated files of {fam} as they appear: the agent is out of file "
                                        f"descriptors ({e.strerror}; raise LimitNOFILE, see docs/operations.md): what "
                                        "rotates away before it is read is lost", extra={"path": fam})
                    else:
                        if owes:
                            caught[owes] = caught.get(owes, 0) + 1  # there, not escaped (unreadable: the tailer names it)
                        if e.errno not in (errno.EACCES, errno.EPERM):
                            log.debug("cannot hold", extra={"path": path, "error": str(e)})
                    continue
                st = os.fstat(fd)
                if not stat.S_ISREG(st.st_mode):
                    os.close(fd)  # a FIFO or device made under a family name is no rotated file
                    if owes:
                        caught[owes] = caught.get(owes, 0) + 1
                    continue
                key = (st.st_dev, st.st_ino)
                ident = (*key, generation(fd))
                if path == fam:
                    self.copy_events.live(fam, fd, st, ident[2])
                elif ev.mask & flags.CREATE:
                    self.copy_events.created(fam, path, fd, st, ident[2])
                at_creation = not renamed and path == fam
                # A file the tailer presumed made since the watch, rotated away from the live name, was born under it:
                # its IN_CREATE (counted) opened the next file there, which paid it; this file pays its own (both
                # presumed before the holder read the events, one creation stayed owed: a certain loss of a file read
                # whole, tests/e2e/test_attack17_born_renamed_false_loss.py, 2 runs of 5 under load).
                if renamed and came_from == fam and self._presumed.get((ident, credit)):
                    at_creation = True
                if key in self.held or (key in self._known and self._known_generation.get(key) in (None, ident[2])):
                    # Seen (the tailer got to it first, or held already): caught — once per file and family.
                    if is_gzip_path(path) and path != fam:
                        self._gz_met(ident, credit, caught, self.held.get(key))
                    else:
                        self._credit_created(ident, credit, caught, at_creation)
                    os.close(fd)
                    if may_be_ahead and caught.get(credit, 0) > before:
                        ahead[credit] = ahead.get(credit, 0) + 1
                    continue
                if self._full(reserve=path == fam) or self._held_bytes_locked() >= self.max_bytes:
                    if ident in self._tailer_met:
                        # Not held, but the tailer opened it (and closed it since): met, no escape; what of it
                        # goes unread is the tailer's to name, from its state.
                        self._credit_created(ident, credit, caught, at_creation)
                        os.close(fd)
                        continue
                    # Not held: its creation stays owed, an escape unless the holder meets it again with
                    # room, or the tailer opens it (follow, tailer_opened).
                    _bounded_put(self._unheld, (ident, credit), None, 4 * BOUND)
                    self._refused.add(credit)
                    os.close(fd)
                    if not self.full_warned:
                        self.full_warned = True
                        log.warning(f"the budget for holding rotated files is full ({len(self.held)} files, "
                                    f"limits {self.max_files} files, {self.max_files // 4} of them kept for rotated "
                                    f"names / {self.max_bytes} bytes; every file source together: "
                                    f"{held_in_process()} of {process_hold_budget()} files, a quarter of the "
                                    f"descriptor limit less 64): files of {fam} that rotate away before they "
                                    "are read are lost (counted)", extra={"path": fam})
                    continue
                self.held[key] = Held(fd, path, fam, *key, moved_from=came_from)
                self._record_held(key, ident[2], path, fam, st)
                self._known.add(key)
                # (Which file it is: known by number only, the inode given to the next file once this one was let
                # go passed for this one, and that file went unheld until the tailer's next follow().)
                self._known_generation[key] = ident[2]
                held_new = True
                self._credited.pop(((*key, None), credit), None)  # (without generations: a new file now)
                self._ungenerated.pop(((*key, None), credit), None)
                if is_gzip_path(path) and path != fam:  # (one made at a family's own name is its creation: caught)
                    self._gz_met(ident, credit, caught, self.held[key])
                else:
                    self._credit_created(ident, credit, caught, at_creation)
                if may_be_ahead and caught.get(credit, 0) > before:
                    ahead[credit] = ahead.get(credit, 0) + 1
            advance, self._advance = self._advance, {}
            for fam in creations.keys() | caught.keys():
                made = max(0, creations.get(fam, 0) - advance.get(fam, 0))  # (the rest of the advance expires)
                balance = self._owed.get(fam, 0) + made - caught.get(fam, 0)
                self._owed[fam] = max(0, balance)
                if balance < 0 and ahead.get(fam):
                    self._advance[fam] = min(-balance, ahead[fam])
            if overflow:
                # Events dropped: which families lost a file, if any, is not known. The folders are named a possible
                # loss (take_overflowed); each family named "certainly escaped" was a false loss for every log of a
                # folder flooded by files the globs do not match (tests/tail/test_attack24_inotify_overflow_names_every_
                # log_lost.py). A rotation missed shows at the next scan (the rotated names moved past what was seen).
                self.overflows += 1
                if self._match is not None:  # new files the globs match may have come and gone too
                    globs = self.folder_globs  # (not a folder watched only for folders appearing in it)
                    self._overflowed |= {f for f, names in self._families.items()
                                         if names or globs is None or globs.leads(f)[0]}
        if held_new:
            self.saver.held_new()
            if self.on_held is not None:
                self.on_held()

    def _first_rotation_of(self, came_from: str, folder: str, name: str) -> str | None:
        """With self._lock held: the new file's family when `name` in `folder` is a rotated name of the new file
        `came_from` was (a file the globs match, its own family: no family of that name followed yet), else None.
        A log made and rotated before the tailer first met it has no followed family to name its backup; its
        creation was counted, so the backup is held and credited to it (else a certain loss was warned for a
        file read whole: tests/e2e/test_attack17_born_renamed_false_loss.py)."""
        live_folder, live_name = os.path.split(came_from)
        if (live_folder == folder and self._match is not None and self._match(came_from)
                and discovery.is_rotated_name(live_name, name)):
            return came_from
        return None

    def _appear_locked(self, folder: str) -> bool:
        """With self._lock held: `folder` appeared (made, renamed in, or a symlink to it made): when the
        globs reach it, it is watched, then listed; its files the globs match and their rotated names
        are held, and its folders on the way to the globs' files are treated alike. True if a file was held."""
        held = False
        todo = [folder]
        while todo:  # (a stack: a tree made at once is walked without recursion)
            held = self._appear_one_locked(todo.pop(), todo) or held
        return held

    def _appear_one_locked(self, folder: str, todo: list[str]) -> bool:
        """With self._lock held: _appear_locked for one folder; its folders on the way to the globs' files
        go on `todo`."""
        globs, hub = self.folder_globs, self._hub
        if globs is None or hub is None:
            return False
        here, deeper = globs.leads(folder)
        if not (here or deeper):
            return False
        try:
            before = os.stat(folder)  # (what changed in it before the watch: see _rotated_unwatched)
        except OSError:
            return False
        if not stat.S_ISDIR(before.st_mode):
            return False
        pointed = (before.st_dev, before.st_ino)
        if self._watched.get(folder) != pointed:
            # Watched under another name: one it no longer has (renamed here) is dropped (its events would name
            # files where they are not); one it still has makes this an alias, or a symlink loop: left alone.
            others = [f for f, ident in self._watched.items() if ident == pointed and f != folder]
            stale = [f for f in others if discovery.folder_identity(f) != pointed]
            for f in stale:
                del self._watched[f]
                self._there_at_watch.pop(f, None)
                hub.unwatch(self, f)
            if len(stale) < len(others):
                return False
            if not hub.watch(self, folder, HOLD_MASK):
                # No watch to be had: the tailer's scan finds what is left there, and names the rotations meanwhile.
                self._no_watch_locked(folder)
                if here:
                    self._appeared_unwatched.add(folder)
                return False
            self._watched[folder] = pointed
            self._listed_at_watch_locked(folder)
        self._appeared.add(folder)
        self._families.setdefault(folder, {})
        try:
            names = sorted(os.listdir(folder))
        except OSError:
            return False
        held = False
        if here:
            live = {n for n in names if self._match is not None and self._match(os.path.join(folder, n))}
            live |= {os.path.basename(fam) for fam in self._families.get(folder, {}).values()}
            for name in names:
                path = os.path.join(folder, name)
                fam = path if name in live else next(
                    (os.path.join(folder, x) for x in sorted(live) if discovery.is_rotated_name(x, name)), None)
                if fam is None:
                    continue
                if fam != path and self._rotated_unwatched(path, before):
                    if fam not in self.folder_escapes:
                        self._escaped_now(fam)
                        self.folder_escapes[fam] = folder
                held = self._hold_listed(path, fam) or held
        if deeper:
            todo.extend(p for p in (os.path.join(folder, n) for n in names) if os.path.isdir(p))
        return held

    @staticmethod
    def _rotated_unwatched(path: str, folder_before: os.stat_result) -> bool:
        """Was the file at `path` (a rotated name) renamed there before its folder was watched (its
        folder's stat then: `folder_before`), the folder's last change being one of its files (not a
        rename of the folder itself: a folder moved in as it was holds its old backups)? Then the log
        rotated unwatched, and each rotation past its backups deleted a file no one held."""
        if folder_before.st_ctime_ns > folder_before.st_mtime_ns:
            return False  # (renamed in, or its mode changed, since any file in it changed)
        try:
            st = os.lstat(path)
        except OSError:
            return False
        return st.st_ctime_ns <= folder_before.st_mtime_ns

    def _hold_listed(self, path: str, fam: str) -> bool:
        """With self._lock held: hold the file a listing found (no creation of it was seen, none is owed:
        its IN_CREATE, if it was made after the watch, credits it when read). True if held now."""
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
        except OSError:
            return False
        st = os.fstat(fd)
        key = (st.st_dev, st.st_ino)
        if (not stat.S_ISREG(st.st_mode) or key in self.held or key in self._known
                or self._full(reserve=path == fam) or self._held_bytes_locked() >= self.max_bytes):
            os.close(fd)  # (the budget full: the tailer's scan finds it under its name, or it is lost unheld)
            return False
        self.held[key] = Held(fd, path, fam, *key)
        self._known.add(key)
        self._known_generation[key] = generation(fd)
        self._record_held(key, self._known_generation[key], path, fam, st)
        return True

    def _record_held(self, key: tuple[int, int], gen: int | None, path: str, fam: str, st: os.stat_result) -> None:
        """With self._lock held: a file held by the holder alone (not adopted: a checkpoint knows those), on disk."""
        self.record.held(key, {"dev": key[0], "ino": key[1], "gen": gen, "path": path,
                               "family": self._created_in.get(fam, fam), "born": born(path, st.st_ino),
                               **fingerprint(self.held[key].fd, st.st_size, is_gzip_path(path))})

    def _full(self, reserve: bool) -> bool:
        """(With self._lock held.) No room for one more file: this holder's `max_files` or the process's budget of
        every holder together taken — less a quarter of either when `reserve` (a file under its live name: a quarter
        is kept for rotated names; a backup can be deleted any moment, a file under its live name is found by the
        next scan unless it rotates first: 1,000 new files filled the budget, and a rotating log's backup went
        unheld, attack 12)."""
        mine, process = self.max_files, process_hold_budget()
        if reserve:
            mine, process = mine - mine // 4, process - process // 4
        return len(self.held) >= mine or held_in_process() >= process

    def _held_bytes_locked(self) -> int:
        total = 0
        for h in self.held.values():
            try:
                st = os.fstat(h.fd)
            except OSError:
                continue
            if st.st_nlink == 0:
                total += st.st_size
        return total


def _bounded_put(d: dict, key: Any, value: Any, bound: int = BOUND) -> None:
    """Remember key -> value; beyond `bound` entries the oldest go (a rename whose other half never came)."""
    d.pop(key, None)
    d[key] = value
    if len(d) > bound:
        for old in list(d)[:bound // 2]:
            del d[old]


def _either(a: Callable[[str], bool], b: Callable[[str], bool]) -> Callable[[str], bool]:
    return lambda path: a(path) or b(path)


def generation(fd: int) -> int | None:
    """The inode's generation (FS_IOC_GETVERSION: ext4, xfs, btrfs; it changes when a deleted file's
    inode is given to a new file); where the file system has none, its birth time stands in (overlayfs,
    tmpfs: birth.of_fd); None where it has neither."""
    try:
        return int.from_bytes(fcntl.ioctl(fd, FS_IOC_GETVERSION, bytes(8))[:4], sys.byteorder)
    except OSError:
        return birth.of_fd(fd)
