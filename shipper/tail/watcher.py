"""Change notification: what changed since the tailer last looked, and a wait that wakes on it.

Two kinds of change, told apart because they cost differently:
- structure (a file created, renamed, deleted, closed after writing): rare; the tailer answers
  with a full scan. Watched on the glob roots.
- writes (IN_MODIFY): on the folders that hold followed files. One per line written by a Log4j
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
The wait is an epoll selector, not select(): descriptors past 1024 (an agent holding many files)
are out of select()'s range.
"""
from __future__ import annotations

import logging
import os
import selectors
import threading
import time
from dataclasses import dataclass, field

from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver, ObservedWatch

from shipper.tail.discovery import folder_identity

try:
    from inotify_simple import INotify, flags
except ImportError:  # pragma: no cover - writes then come through watchdog
    INotify = None

log = logging.getLogger("shipper.tail.watcher")

# Roles of a folder watched in the source's own instance (a folder can have several). ANCESTOR: a
# folder above a root, watched for its own move or deletion only: a root's parent renamed away and
# made again (a blue/green deployment) changes what the root's name reaches, and no event on the
# root's own watch says so (inotify reports a move to the folder that held the moved entry).
STRUCTURE, WRITES, ANCESTOR = 1, 2, 4
if INotify is not None:
    STRUCTURE_MASK = (flags.CREATE | flags.MOVED_FROM | flags.MOVED_TO | flags.DELETE | flags.CLOSE_WRITE
                      | flags.DELETE_SELF | flags.MOVE_SELF)
    ROLE_MASK = {STRUCTURE: STRUCTURE_MASK, WRITES: flags.MODIFY, ANCESTOR: flags.DELETE_SELF | flags.MOVE_SELF}

STRUCTURE_EVENTS = [FileCreatedEvent, FileMovedEvent, FileDeletedEvent, FileClosedEvent, DirCreatedEvent,
                    DirMovedEvent, DirDeletedEvent]


@dataclass
class Changes:
    woke: bool = False  # woken by a notification (not the timeout)
    structure: bool = False  # something was created, renamed or deleted: scan
    paths: set[str] = field(default_factory=set)  # files written to


class _Handler(FileSystemEventHandler):
    def __init__(self, watcher: "ChangeWatcher"):
        self.watcher = watcher

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type == "modified":
            if not event.is_directory:
                self.watcher._note(path=os.fsdecode(event.src_path))
        elif event.event_type in ("created", "moved", "deleted", "closed"):
            self.watcher._note(structure=True)


class ChangeWatcher:
    def __init__(self, roots: list[tuple[str, bool]], gather: float = 0.0):
        self.roots = roots
        self.gather = gather
        self._lock = threading.Lock()
        self._structure = False  # the caller looks at everything before its first wait
        self._paths: set[str] = set()
        self._signalled = False
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._closed = False
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._wake_r, selectors.EVENT_READ)
        self._registered = False
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

    def start(self) -> None:
        if INotify is not None:
            try:
                self._ino = INotify()
            except OSError as e:
                log.warning("inotify unavailable for this source (raise fs.inotify.max_user_instances, see "
                            "docs/operations.md): watchdog used", extra={"error": str(e)})
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
        events = STRUCTURE_EVENTS if self._ino is not None else [*STRUCTURE_EVENTS, FileModifiedEvent]
        if by_watchdog:
            try:
                obs = Observer()
                self._handler, self._events = _Handler(self), events
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

    def wait(self, timeout: float) -> Changes:
        """Sleep until a change or the timeout; after a change, sleep the gather window too, so
        the writes that follow are read in the same batch (changes noted while the caller was
        reading count as a wake-up at once: the window still applies)."""
        ino = self._ino
        watching = ino is not None and bool(self._folder_wd)
        if ino is not None and watching != self._registered:  # (without an instance, never registered)
            if watching:
                self._selector.register(ino.fileno(), selectors.EVENT_READ)
            else:
                self._selector.unregister(ino.fileno())
            self._registered = watching
        with self._lock:
            pending = self._structure or bool(self._paths) or self._signalled
        if not pending:
            if not self._selector.select(max(0.0, timeout)):
                return Changes()
        if self.gather > 0:
            time.sleep(self.gather)
        ch = Changes(woke=True)
        if self._ino is not None:
            for ev in self._ino.read(timeout=0):
                if ev.mask & flags.Q_OVERFLOW:
                    ch.structure = True  # events were dropped: look at everything
                    continue
                names = self._wd_folders.get(ev.wd, ())
                if ev.mask & flags.IGNORED:  # the folder went: watched again when it is back
                    for folder in list(names):
                        if self._roles.get(folder, 0) & (STRUCTURE | ANCESTOR):
                            ch.structure = True
                        self._folder_wd.pop(folder, None)
                        self._folder_id.pop(folder, None)
                    self._wd_folders.pop(ev.wd, None)
                    continue
                for folder in names:
                    roles = self._roles.get(folder, 0)
                    if ev.mask & flags.MODIFY:
                        if roles & WRITES and ev.name:
                            ch.paths.add(os.path.join(folder, ev.name))
                    elif roles & STRUCTURE or roles & ANCESTOR and ev.mask & (flags.MOVE_SELF | flags.DELETE_SELF):
                        ch.structure = True  # (an ancestor moved or deleted: what the roots reach changed)
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

    def stop(self) -> None:
        with self._lock:
            self._closed = True  # a late wake() writes nowhere (its descriptor may be reused)
        self._selector.close()
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
