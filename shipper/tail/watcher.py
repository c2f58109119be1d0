"""Change notification: inotify through watchdog wakes the tailer at once; a timer (poll_interval)
wakes it anyway, which is the fallback where inotify says nothing (NFS, some FUSE mounts) or
cannot start (watch limits)."""
from __future__ import annotations

import logging
import threading

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

log = logging.getLogger("shipper.tail.watcher")


class _Handler(FileSystemEventHandler):
    def __init__(self, watcher: "ChangeWatcher"):
        self.watcher = watcher

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in ("opened", "closed_no_write"):
            return  # our own reads show up as these
        if event.event_type in ("created", "moved", "deleted", "closed"):
            self.watcher.structure_changed = True
        self.watcher.wake.set()


class ChangeWatcher:
    def __init__(self, roots: list[tuple[str, bool]]):
        self.roots = roots
        self.wake = threading.Event()
        self.structure_changed = True
        self.observer: Observer | None = None
        self.inotify = False

    def start(self) -> None:
        try:
            obs = Observer()
            handler = _Handler(self)
            for root, recursive in self.roots:
                obs.schedule(handler, root, recursive=recursive)
            obs.daemon = True
            obs.start()
            self.observer, self.inotify = obs, True
        except Exception as e:  # inotify limits, unsupported file system: polling still works
            log.warning("file change notification unavailable, polling only", extra={"error": str(e)})
            self.observer = None

    def wait(self, timeout: float) -> bool:
        """Sleep until a change or the timeout. True if woken by a change."""
        woke = self.wake.wait(timeout)
        self.wake.clear()
        return woke

    def take_structure_changed(self) -> bool:
        changed, self.structure_changed = self.structure_changed, False
        return changed

    def stop(self) -> None:
        if self.observer is not None:
            self.observer.stop()
            self.observer.join(timeout=5)
            self.observer = None
