"""Change notification: what changed since the tailer last looked, and a wait that wakes on it.

Two kinds of change, told apart because they cost differently:
- structure (a file created, renamed, deleted, closed after writing): watchdog, over the glob
  roots (recursive where a glob needs it). Rare; the tailer answers with a full scan.
- writes (IN_MODIFY): inotify_simple on the folders that hold followed files, read in the
  caller's thread. One per line written by a Log4j writer, so they must be cheap: watchdog hands
  each event through three threads (~130 µs an event, measured in bench/README.md); here a wait
  that wakes, sleeps the gather window so more writes land, and reads every event that
  accumulated in one read() (the kernel merges repeated writes to one file). The tailer then
  reads only the files named.
Where inotify_simple cannot start, writes come through watchdog as before. The caller's timeout
wakes it anyway: the fallback where inotify says nothing (NFS, FUSE, a file deleted while open, a
queue overflow), which it answers with a read or a full scan. `wake()` (from any thread: a stop)
ends a wait at once, so that an idle caller need not wake up to look at a stop flag.
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

from shipper.tail.discovery import folder_identity

try:
    from inotify_simple import INotify, flags
except ImportError:  # pragma: no cover - writes then come through watchdog
    INotify = None

log = logging.getLogger("shipper.tail.watcher")

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
        self._writes_registered = False
        self.observer: Observer | None = None
        self.inotify = False  # any notification at all (else: polling only)
        self._writes: INotify | None = None
        self._folder_wd: dict[str, int] = {}
        self._folder_id: dict[str, tuple[int, int] | None] = {}  # what each watched folder name pointed at
        self._root_watch: dict[str, tuple] = {}  # root -> (its watchdog watch, what it pointed at)
        self._wd_folder: dict[int, str] = {}
        self.missing_watches: set[str] = set()  # folders whose writes only a full pass sees

    def start(self) -> None:
        if INotify is not None:
            try:
                self._writes = INotify()
            except OSError as e:
                log.warning("inotify for writes unavailable, watchdog used", extra={"error": str(e)})
        events = STRUCTURE_EVENTS if self._writes is not None else [*STRUCTURE_EVENTS, FileModifiedEvent]
        try:
            obs = Observer()
            self._handler, self._events = _Handler(self), events
            for root, recursive in self.roots:
                self._root_watch[root] = (obs.schedule(self._handler, root, recursive=recursive, event_filter=events),
                                          folder_identity(root))
            obs.daemon = True
            obs.start()
            self.observer, self.inotify = obs, True
        except Exception as e:  # inotify limits, unsupported file system: polling still works
            log.warning("file change notification unavailable, polling only", extra={"error": str(e)})
            self.observer = None

    def watch_folders(self, folders: set[str]) -> None:
        """Report writes to files in exactly these folders (those holding followed files)."""
        if self._writes is None or self.observer is None:
            return
        self._rewatch_swapped_roots()
        self.missing_watches = set()
        # A folder reached through a symlink that now points elsewhere is watched again.
        moved = {f for f in self._folder_wd.keys() & folders if folder_identity(f) != self._folder_id.get(f)}
        for folder in list((self._folder_wd.keys() - folders) | moved):
            wd = self._folder_wd.pop(folder)
            self._wd_folder.pop(wd, None)
            self._folder_id.pop(folder, None)
            try:
                self._writes.rm_watch(wd)
            except OSError:
                pass  # the folder is gone: the kernel dropped the watch already
        for folder in folders - self._folder_wd.keys():
            ident = folder_identity(folder)  # before the watch: a swap meanwhile is seen next time
            try:
                wd = self._writes.add_watch(folder, flags.MODIFY | flags.ONLYDIR)
            except OSError as e:
                # Watch limit or folder gone: writes there are seen by the periodic scan.
                log.debug("no write watch", extra={"path": folder, "error": str(e)})
                self.missing_watches.add(folder)
                continue
            self._folder_wd[folder] = wd
            self._wd_folder[wd] = folder
            self._folder_id[folder] = ident

    def _rewatch_swapped_roots(self) -> None:
        """A root reached through a symlink swapped to another folder (discovery.watch_roots watches
        the link's folder, so the swap made a scan): the watch moves to the new target."""
        for root, (watch, ident) in list(self._root_watch.items()):
            now = folder_identity(root)
            if now == ident or now is None:
                continue
            try:
                self.observer.unschedule(watch)
                new = self.observer.schedule(self._handler, root, recursive=watch.is_recursive,
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
        watching = self._writes is not None and bool(self._folder_wd)
        if watching != self._writes_registered:
            if watching:
                self._selector.register(self._writes.fileno(), selectors.EVENT_READ)
            else:
                self._selector.unregister(self._writes.fileno())
            self._writes_registered = watching
        with self._lock:
            pending = self._structure or bool(self._paths) or self._signalled
        if not pending:
            if not self._selector.select(max(0.0, timeout)):
                return Changes()
        if self.gather > 0:
            time.sleep(self.gather)
        ch = Changes(woke=True)
        if self._writes is not None:
            for ev in self._writes.read(timeout=0):
                if ev.mask & flags.Q_OVERFLOW:
                    ch.structure = True  # events were dropped: look at everything
                elif ev.mask & flags.IGNORED:
                    folder = self._wd_folder.pop(ev.wd, None)
                    if folder is not None and self._folder_wd.get(folder) == ev.wd:
                        del self._folder_wd[folder]
                        self._folder_id.pop(folder, None)
                elif ev.name:
                    folder = self._wd_folder.get(ev.wd)
                    if folder is not None:
                        ch.paths.add(os.path.join(folder, ev.name))
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
        if self._writes is not None:
            self._writes.close()
            self._writes = None
            self._writes_registered = False
        for fd in (self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass
