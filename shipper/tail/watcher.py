"""Change notification: what changed since the tailer last looked, and a wait that wakes on it.

Two kinds of change, told apart because they cost differently:
- structure (a file created, renamed, deleted; closed after writing where no followed file is): rare;
  the tailer answers with a full scan. Watched on the glob roots.
- writes (IN_MODIFY), and changes of a file's times (IN_ATTRIB: a touch, told from a cut by touches.py): on the
  folders that hold followed files. One per line written by a Log4j
  writer, so they must be cheap: watchdog hands each event through three threads (~130 µs an
  event, measured in bench/README.md); here a wait that wakes, sleeps the gather window so more
  writes land, and reads every event that accumulated in one read() (the kernel merges repeated
  writes to one file). The tailer then reads only the files named.
Both come through one inotify instance per source (inotify_simple), read in the caller's thread:
a user has few instances (`fs.inotify.max_user_instances`, 128 by default, for every program of the
user), and the holders of all sources share one more (shared_inotify.py). A folder that is a root
and holds followed files has one watch with both masks. Only a root that must be watched
recursively (a glob with `**` or a wildcard folder) goes to watchdog, which keeps the watches of
new subfolders: one instance more per such root. Where inotify_simple cannot start, everything
comes through watchdog as before. The caller's timeout wakes it anyway: the fallback where inotify
says nothing (NFS, FUSE, a file deleted while open, a queue overflow), which it answers with a read
or a full scan. `wake()` (from any thread: a stop) ends a wait at once, so that an idle caller need
not wake up to look at a stop flag.
The wait is an epoll, not select(): descriptors past 1024 (an agent holding many files) are out of
select()'s range.
A file system mounted (or unmounted) on a watched folder or above it makes no inotify event: the
watch stays on the folder the mount covered (a lazy unmount with files still open sends no
IN_UNMOUNT either), and files made on the new mount went unseen until the next rescan. The kernel
says when the mount table changes (POLLPRI on /proc/self/mountinfo, as util-linux's libmount
uses it); a change at or above a watched folder, or below a root, is a structure change.
A root or a folder above it that is missing (renamed away: a deployment) is awaited on the nearest
folder above it that exists (its creations), so that it is watched again the moment it is back.
"""
from __future__ import annotations

import logging
import os
import re
import select
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

from shipper.tail.discovery import folder_identity

if TYPE_CHECKING:
    from watchdog.observers.api import BaseObserver, ObservedWatch

try:
    from inotify_simple import INotify, flags
except ImportError:  # pragma: no cover - writes then come through watchdog
    INotify = None

log = logging.getLogger("shipper.tail.watcher")

# Roles of a folder watched in the source's own instance (a folder can have several). ANCESTOR: a
# folder above a root, watched for its own move or deletion only: a root's parent renamed away and
# made again (a blue/green deployment) changes what the root's name reaches, and no event on the
# root's own watch says so (inotify reports a move to the folder that held the moved entry).
# AWAIT: the nearest existing folder above a root that is missing, watched for the next folder
# down towards the root to appear (its name in self._awaited).
STRUCTURE, WRITES, ANCESTOR, AWAIT = 1, 2, 4, 8
if INotify is not None:
    STRUCTURE_MASK = (flags.CREATE | flags.MOVED_FROM | flags.MOVED_TO | flags.DELETE | flags.CLOSE_WRITE
                      | flags.DELETE_SELF | flags.MOVE_SELF)
    ROLE_MASK = {STRUCTURE: STRUCTURE_MASK, WRITES: flags.MODIFY | flags.ATTRIB, ANCESTOR: flags.DELETE_SELF | flags.MOVE_SELF,
                 AWAIT: flags.CREATE | flags.MOVED_TO | flags.DELETE_SELF | flags.MOVE_SELF}
MOUNTINFO = "/proc/self/mountinfo"
# After a mount change that reaches no watched name (another program's: a host mounting and unmounting all the time, a
# Kubernetes node's pod volumes) the mount table is not listened to for this long, and then from the next wait on (the
# file source's waits end every 10 s at most: its housekeeping): the source's thread woke once for each (0.55/s on
# this host under other sessions' loop mounts: idle 1.03 wake-ups/s, 0.48 without them). A mount on a watched folder
# in that time is heard then (what the mount brought is read then, as at a rescan); one after a quiet spell at once.
MOUNT_SETTLE = 10.0


# Within a gather window longer than this, what is written to is looked at again this often (wait's `look`).
LOOK_EVERY = 0.5


@dataclass
class Changes:
    woke: bool = False  # woken by a notification (not the timeout)
    structure: bool = False  # something was created, renamed or deleted: scan
    paths: set[str] = field(default_factory=set)  # files written to
    # Of the source's own instance's events: files written to or cut (IN_MODIFY: not a close after writing, which
    # `touch` makes too), files whose times changed (IN_ATTRIB: `touch`), and whether the kernel dropped events.
    # touches.py tells a touch from a cut given the same bytes by them.
    written: set[str] = field(default_factory=set)
    touched: set[str] = field(default_factory=set)
    overflowed: bool = False


# What a ChangeWatcher keeps open: its wake pipe (2), epoll (1), /proc/self/mountinfo (1) and inotify instance (1);
# with a root watched recursively, watchdog's observer its own inotify instance and wake pipe (3, however many such
# roots: one observer a watcher; counted with watchdog 7.1, /proc/PID/fd of an agent with 0, 1 and 4 such roots).
WATCHER_DESCRIPTORS = 5
WATCHDOG_DESCRIPTORS = 3


def watcher_descriptors(roots: list[tuple[str, bool]]) -> int:
    """The descriptors a ChangeWatcher of `roots` (discovery.watch_roots) keeps open while it runs."""
    return WATCHER_DESCRIPTORS + (WATCHDOG_DESCRIPTORS if any(recursive for _, recursive in roots) else 0)


class ChangeWatcher:
    def __init__(self, roots: list[tuple[str, bool]], gather: float = 0.0):
        self.roots = roots
        self.gather = gather
        self._lock = threading.Lock()
        self._structure = False  # the caller looks at everything before its first wait
        self._paths: set[str] = set()
        self._signalled = False
        self._stopping = threading.Event()  # wake_to_stop(): the gather window is not slept either
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._closed = False
        self._epoll = select.epoll()
        self._epoll.register(self._wake_r, select.EPOLLIN)
        self._registered = False
        self._mountinfo: int | None = None  # /proc/self/mountinfo: POLLPRI when the mount table changes
        self._mounts: set[tuple[str, str]] = set()  # (mount id, mount point) as last read
        self._mounts_heard_again = 0.0  # (time.monotonic) while the mount table is not listened to: when it is again
        self.observer: BaseObserver | None = None  # watchdog: recursive roots (or all, without inotify_simple)
        self.inotify = False  # any notification at all (else: polling only)
        self._ino: INotify | None = None  # the source's own instance: writes, and the other roots
        self._roles: dict[str, int] = {}  # folder -> roles wanted (STRUCTURE, WRITES)
        self._folder_wd: dict[str, int] = {}
        self._folder_id: dict[str, tuple[int, int] | None] = {}  # what each watched folder name pointed at
        self._wd_folders: dict[int, set[str]] = {}  # (two names can reach one folder: one watch)
        self._own_roots: set[str] = set()
        self._root_watch: dict[str, tuple[ObservedWatch, tuple[int, int] | None]] = {}  # watchdog root -> (its watch, what it pointed at)
        self.missing_watches: set[str] = set()  # folders whose writes only a full pass sees
        self._awaited: dict[str, str] = {}  # folder watched for a missing folder below it -> that folder

    def start(self) -> None:
        self._watch_mounts()
        if INotify is not None:
            try:
                self._ino = INotify()
            except OSError as e:
                # inotify_init's EMFILE is either limit: the user's instances, or the process's descriptors.
                log.warning(f"inotify unavailable for this source ({e}: raise fs.inotify.max_user_instances, or "
                            "LimitNOFILE when the agent is out of descriptors, see docs/operations.md): watchdog used",
                            extra={"error": str(e)})
        notified = True
        by_watchdog = []
        for root, recursive in self.roots:
            if self._ino is None or recursive:
                by_watchdog.append((root, recursive))
                continue
            self._own_roots.add(root)
            self._roles[root] = self._roles.get(root, 0) | STRUCTURE
            if not self._sync(root):
                notified = False  # (the watch limit, or the folder gone): polling sees it
            up = os.path.dirname(root)
            while up != os.path.dirname(up):  # ("/" is never moved)
                self._roles[up] = self._roles.get(up, 0) | ANCESTOR
                self._sync(up)  # (not there, or the watch limit: the periodic rescan still sees it)
                up = os.path.dirname(up)
        if by_watchdog:
            try:
                from shipper.tail import watchdog_roots  # (watchdog only for a source that has such roots)

                events = watchdog_roots.events(writes=self._ino is None)
                obs = watchdog_roots.Observer()
                self._handler, self._events = watchdog_roots.Handler(self._note), events
                for root, recursive in by_watchdog:
                    self._root_watch[root] = (obs.schedule(self._handler, root, recursive=recursive,
                                                           event_filter=events), folder_identity(root))
                obs.daemon = True
                obs.start()
                self.observer = obs
            except Exception as e:  # inotify limits, unsupported file system: polling still works
                log.warning("file change notification unavailable, polling only", extra={"error": str(e)})
                notified = False
        self.inotify = notified

    def _watch_mounts(self) -> None:
        try:
            self._mountinfo = os.open(MOUNTINFO, os.O_RDONLY | os.O_CLOEXEC)
            self._mounts = self._read_mounts()
            self._epoll.register(self._mountinfo, select.EPOLLPRI)
        except OSError as e:  # no /proc: a mount over a watched folder is seen at the next rescan
            log.debug("mount changes not watched", extra={"error": str(e)})
            if self._mountinfo is not None:
                os.close(self._mountinfo)
                self._mountinfo = None

    def _read_mounts(self) -> set[tuple[str, str]]:
        """The mounts now: (mount id, mount point). A mount made again on the same folder has a new id."""
        assert self._mountinfo is not None
        chunks = []
        os.lseek(self._mountinfo, 0, os.SEEK_SET)
        while True:
            b = os.read(self._mountinfo, 65536)
            if not b:
                break
            chunks.append(b)
        mounts = set()
        for line in b"".join(chunks).splitlines():
            fields = line.split(b" ")
            if len(fields) > 4:  # proc(5): a space, tab, newline or backslash in the mount point is an octal escape
                point = re.sub(rb"\\([0-7]{3})", lambda m: bytes([int(m.group(1), 8) & 0xFF]), fields[4])
                mounts.add((os.fsdecode(fields[0]), os.fsdecode(point)))
        return mounts

    def _mounts_changed(self) -> bool:
        """The mount table changed: True when a mount came or went at or above a watched folder or a
        root, or below a root (what the names we watch reach may be another folder now). Otherwise the
        table is not listened to for MOUNT_SETTLE seconds."""
        try:
            now = self._read_mounts()
        except OSError:
            return True
        changed = {point for _, point in now ^ self._mounts}
        self._mounts = now
        watched = {root for root, _ in self.roots} | self._folder_wd.keys() | self._roles.keys()
        recursive = [root for root, rec in self.roots if rec]
        ours = any(_at_or_above(point, folder) for point in changed for folder in watched) or any(
            _at_or_above(root, point) for point in changed for root in recursive)
        if not ours and self._mountinfo is not None and not self._mounts_heard_again:
            self._epoll.unregister(self._mountinfo)
            self._mounts_heard_again = time.monotonic() + MOUNT_SETTLE
        return ours

    def _listen_to_mounts_again(self, deadline: float) -> float:
        """Listen to the mount table again once MOUNT_SETTLE has passed (what changed meanwhile is heard at once): at
        a wait, or (the settle's end, returned) within a wait that would end more than a settle after it. A wake of
        its own for every settle was one more wake-up a settle; a wait's end a settle later is soon enough."""
        again = self._mounts_heard_again
        if again and time.monotonic() >= again and self._mountinfo is not None:
            self._epoll.register(self._mountinfo, select.EPOLLPRI)
            self._mounts_heard_again = again = 0.0
        return again if again and deadline > again + MOUNT_SETTLE else deadline

    def watch_folders(self, folders: set[str]) -> None:
        """Report writes to files in exactly these folders (those holding followed files)."""
        if self._ino is None or not self.inotify:
            return
        self._rewatch_swapped_roots()
        self.missing_watches = set()
        # A folder reached through a symlink that now points elsewhere is watched again.
        moved = {f for f in self._folder_wd if folder_identity(f) != self._folder_id.get(f)}
        for folder in moved:
            self._drop(folder)
        for folder in (self._roles.keys() | folders):
            roles = self._roles.get(folder, 0) & ~WRITES | (WRITES if folder in folders else 0)
            if roles != self._roles.get(folder, 0) or (roles and folder not in self._folder_wd):
                if roles:
                    self._roles[folder] = roles
                else:
                    del self._roles[folder]
                if not self._sync(folder) and roles & WRITES:
                    self.missing_watches.add(folder)  # watch limit or folder gone: the periodic scan sees its writes
        self._await_missing_roots()

    def _await_missing_roots(self) -> None:
        """Each own root not watched because it or a folder above it is missing (renamed away, not
        made again yet): the nearest folder above it that exists is watched for the next folder down
        to appear. One that appeared before that watch was added is watched at once, and a root
        watched again so makes a scan (what was made in it meanwhile)."""
        awaited: dict[str, str] = {}
        rewatched = False
        for root in sorted(self._own_roots):
            if root in self._folder_wd:
                continue
            below = root
            while os.path.dirname(below) not in self._folder_wd and os.path.dirname(below) != below:
                below = os.path.dirname(below)
            above = os.path.dirname(below)
            if above not in self._folder_wd:
                continue  # nothing above it watched (the watch limit): the periodic rescan sees it
            while True:
                awaited[above] = below
                self._set_role(above, AWAIT, True)
                if not os.path.isdir(below) or not self._sync(below):
                    break  # (cannot be watched: the watch limit; the periodic rescan sees it)
                del awaited[above]  # made before the watch above could see it: watched now
                if below == root:
                    rewatched = True
                    break
                above, below = below, root
                while os.path.dirname(below) != above:
                    below = os.path.dirname(below)
        for folder in [f for f, roles in self._roles.items() if roles & AWAIT and f not in awaited]:
            self._set_role(folder, AWAIT, False)
        self._awaited = awaited
        if rewatched:
            self._note(structure=True)

    def _set_role(self, folder: str, role: int, on: bool) -> None:
        roles = self._roles.get(folder, 0)
        want = roles | role if on else roles & ~role
        if want == roles:
            return
        if want:
            self._roles[folder] = want
        else:
            del self._roles[folder]
        self._sync(folder)

    def _sync(self, folder: str) -> bool:
        """Make the kernel's watch of `folder` what its roles (and those of the other names of the
        same folder) ask; False when it cannot be watched."""
        roles = self._roles.get(folder, 0)
        wd = self._folder_wd.get(folder)
        ino = self._ino
        if ino is None:  # (only the source's own instance's folders come here)
            return False
        if not roles:
            if wd is not None:
                self._drop(folder)
            return True
        ident = folder_identity(folder)  # before the watch: a swap meanwhile is seen next time
        if wd is None:
            try:
                wd = ino.add_watch(folder, self._mask_of(folder) | flags.ONLYDIR | flags.MASK_ADD)
            except OSError as e:
                log.debug("no watch", extra={"path": folder, "error": str(e)})
                return False
            self._folder_wd[folder] = wd
            self._wd_folders.setdefault(wd, set()).add(folder)
            self._folder_id[folder] = ident
        mask = 0
        for name in self._wd_folders[wd]:
            mask |= self._mask_of(name)
        try:
            ino.add_watch(folder, mask | flags.ONLYDIR)  # (not MASK_ADD: a role given up is dropped)
        except OSError:
            self._drop(folder)
            return False
        return True

    def _mask_of(self, folder: str) -> int:
        roles = self._roles.get(folder, 0)
        mask = 0
        for role, bits in ROLE_MASK.items():
            if roles & role:
                mask |= bits
        return mask

    def _drop(self, folder: str) -> None:
        wd = self._folder_wd.pop(folder, None)
        self._folder_id.pop(folder, None)
        if wd is None:
            return
        names = self._wd_folders.get(wd, set())
        names.discard(folder)
        if names:
            return
        self._wd_folders.pop(wd, None)
        if self._ino is None:
            return
        try:
            self._ino.rm_watch(wd)
        except OSError:
            pass  # the folder is gone: the kernel dropped the watch already

    def _rewatch_swapped_roots(self) -> None:
        """A root reached through a symlink swapped to another folder (discovery.watch_roots watches
        the link's folder, so the swap made a scan): the watch moves to the new target. (The roots
        of the own instance: by watch_folders, as every folder.)"""
        observer = self.observer
        if observer is None:  # (it failed to start: polling only)
            return
        for root, (watch, ident) in list(self._root_watch.items()):
            now = folder_identity(root)
            if now == ident or now is None:
                continue
            try:
                observer.unschedule(watch)
                new = observer.schedule(self._handler, root, recursive=watch.is_recursive,
                                             event_filter=self._events)
            except Exception as e:  # the folder went again: the periodic rescan still sees it
                log.debug("cannot watch again", extra={"path": root, "error": str(e)})
                continue
            self._root_watch[root] = (new, now)

    def _note(self, structure: bool = False, path: str | None = None) -> None:
        with self._lock:
            if structure:
                self._structure = True
            if path is not None:
                self._paths.add(path)
            self._signal()

    def _signal(self) -> None:
        """With self._lock held."""
        if not self._signalled and not self._closed:
            self._signalled = True
            os.write(self._wake_w, b"!")

    def wake(self) -> None:
        """End the current or next wait at once (from any thread; harmless after stop())."""
        with self._lock:
            self._signal()

    def wake_to_stop(self) -> None:
        """wake(), and the current or next gather window ends at once too: the caller stops (a stop waited
        the window out, up to gather_interval's 10 s, and ran past shutdown_timeout)."""
        self._stopping.set()
        self.wake()

    def wait(self, timeout: float, look: Callable[[set[str]], None] | None = None,
             note: Callable[[Changes], None] | None = None) -> Changes:
        """Sleep until a change or the timeout; after a change, sleep the gather window too, so
        the writes that follow are read in the same batch (changes noted while the caller was
        reading count as a wake-up at once: the window still applies). `look`, given the paths
        written to, is called before the window. `note`, given each batch of the source's own instance's events as
        they are taken (files written to, touched; an overflow), before any look that follows them: a look then
        knows which writes came before it and which after (truncation.cut_back_unseen)."""
        ino = self._ino
        watching = ino is not None and bool(self._folder_wd)
        if ino is not None and watching != self._registered:  # (without an instance, never registered)
            if watching:
                self._epoll.register(ino.fileno(), select.EPOLLIN)
            else:
                self._epoll.unregister(ino.fileno())
            self._registered = watching
        with self._lock:
            pending = self._structure or bool(self._paths) or self._signalled
        ch = Changes(woke=True)
        deadline = time.monotonic() + max(0.0, timeout)
        if not pending:
            while True:
                until = self._listen_to_mounts_again(deadline)
                ready = {fd for fd, _ in self._epoll.poll(max(0.0, until - time.monotonic()))}
                if self._mountinfo in ready:
                    ready.discard(self._mountinfo)
                    ch.structure = self._mounts_changed()
                if not ready and not ch.structure and time.monotonic() < deadline:
                    continue  # a mount elsewhere (another program's), or its settle over: no wake-up of the caller
                break
            if not ready and not ch.structure:
                return Changes()
        else:
            self._listen_to_mounts_again(deadline)
            if any(fd == self._mountinfo for fd, _ in self._epoll.poll(0)) and self._mounts_changed():
                ch.structure = True
        if self.gather > 0:
            # What is written to is looked at as the window begins and every LOOK_EVERY within it: a file written and
            # then cut inside it shows a look its growth, so the cut is a counted loss of those bytes, not "possibly
            # none" (tests/tail/test_attack25_gather_window_cut_possibly_none.py). A long window is the agent's own
            # lapse of attention; within LOOK_EVERY, as for any reader, a write and the cut are one change.
            ends, looked = time.monotonic() + self.gather, set[str]()
            while True:
                if look is not None:
                    self._take_events(ch, note)
                    if ch.paths - looked:
                        look(ch.paths - looked)
                        looked |= ch.paths
                left = ends - time.monotonic()
                if left <= 0 or self._stopping.wait(min(left, LOOK_EVERY) if look is not None else left):
                    break
        self._take_events(ch, note)
        with self._lock:
            try:
                os.read(self._wake_r, 4096)
            except BlockingIOError:
                pass
            self._signalled = False
            ch.structure = ch.structure or self._structure
            ch.paths |= self._paths
            self._structure, self._paths = False, set()
        return ch

    def drain(self, note: Callable[[Changes], None]) -> None:
        """The events queued now taken at once, between waits (before a read's look at a file, or a look while the
        reader is held in a hand-over): their writes and touches to `note` (when there are any), what they ask of the
        caller (files to read, a scan) kept for the next wait, which then returns at once. Held by backpressure, the
        reader noted the watcher's events only after the hold: the writes its looks had seen came with a chmod made
        after them, and bore out a cut back that never was
        (tests/tail/test_attack26_chmod_touch_during_outage_false_loss.py)."""
        ch = Changes()
        self._take_events(ch, note)
        if ch.paths or ch.structure:
            with self._lock:
                self._structure = self._structure or ch.structure
                self._paths |= ch.paths

    def _take_events(self, ch: Changes, note: Callable[[Changes], None] | None = None) -> None:
        """The inotify events queued now, into `ch`; those of this batch to `note` too, if any."""
        if self._ino is None:
            return
        if note is None:
            self._read_events(ch)
            return
        batch = Changes()
        self._read_events(batch)
        ch.structure = ch.structure or batch.structure
        ch.paths |= batch.paths
        ch.written |= batch.written
        ch.touched |= batch.touched
        ch.overflowed = ch.overflowed or batch.overflowed
        if batch.written or batch.touched or batch.overflowed:
            note(batch)

    def _read_events(self, ch: Changes) -> None:
        assert self._ino is not None
        for ev in self._ino.read(timeout=0):
            if ev.mask & flags.Q_OVERFLOW:
                ch.structure = ch.overflowed = True  # events were dropped: look at everything
                continue
            names = self._wd_folders.get(ev.wd, ())
            if ev.mask & flags.IGNORED:  # the folder went: watched again when it is back
                for folder in list(names):
                    if self._roles.get(folder, 0) & (STRUCTURE | ANCESTOR | AWAIT):
                        ch.structure = True
                    self._folder_wd.pop(folder, None)
                    self._folder_id.pop(folder, None)
                self._wd_folders.pop(ev.wd, None)
                continue
            for folder in names:
                roles = self._roles.get(folder, 0)
                if ev.mask & flags.ATTRIB:  # (times, mode, owner, links: no structure change, no write)
                    if roles & WRITES and ev.name:
                        ch.touched.add(os.path.join(folder, ev.name))
                    continue
                if ev.mask & flags.MODIFY and roles & WRITES and ev.name:
                    ch.written.add(os.path.join(folder, ev.name))
                # A file closed after writing where followed files are is a write to it: the tailer reads a
                # file it follows, and scans for one it does not (read_changed). Taken for a structure change,
                # each line a writer appended with open-write-close cost a scan of every file: ~130 ms of CPU
                # among 2,000 quiet files (tests/tail/test_attack19_quiet_files_line_cost.py).
                if ev.mask & flags.MODIFY or ev.mask & flags.CLOSE_WRITE and roles & WRITES:
                    if roles & WRITES and ev.name:
                        ch.paths.add(os.path.join(folder, ev.name))
                elif roles & STRUCTURE or roles & (ANCESTOR | AWAIT) and ev.mask & (flags.MOVE_SELF | flags.DELETE_SELF):
                    ch.structure = True  # (an ancestor moved or deleted: what the roots reach changed)
                elif roles & AWAIT and ev.name and os.path.join(folder, ev.name) == self._awaited.get(folder):
                    ch.structure = True  # the missing folder towards a root is back

    def stop(self) -> None:
        with self._lock:
            self._closed = True  # a late wake() writes nowhere (its descriptor may be reused)
        self._epoll.close()
        if self._mountinfo is not None:
            os.close(self._mountinfo)
            self._mountinfo = None
        if self.observer is not None:
            self.observer.stop()
            self.observer.join(timeout=5)
            self.observer = None
        if self._ino is not None:
            self._ino.close()
            self._ino = None
            self._registered = False
        for fd in (self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass


def _at_or_above(point: str, folder: str) -> bool:
    """Is `point` the folder `folder` or a folder above it?"""
    return folder == point or folder.startswith(point.rstrip("/") + "/")
