"""What shipper.tail.watcher gives watchdog: the roots it watches recursively (a glob with `**` or a wildcard
folder), or every root and the writes where inotify_simple cannot start. A module of its own: watchdog costs
~0.1 s of a core to import, paid only by a source that has such a root."""
from __future__ import annotations

import os
from typing import Callable

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

__all__ = ["Handler", "Observer", "events"]

STRUCTURE_EVENTS = [FileCreatedEvent, FileMovedEvent, FileDeletedEvent, FileClosedEvent, DirCreatedEvent,
                    DirMovedEvent, DirDeletedEvent]


def events(writes: bool) -> list[type[FileSystemEvent]]:
    """The events watched: structure changes, and with `writes` the files written to as well."""
    return [*STRUCTURE_EVENTS, FileModifiedEvent] if writes else STRUCTURE_EVENTS


class Handler(FileSystemEventHandler):
    """Hands each event to the watcher's `note(structure=..., path=...)`."""

    def __init__(self, note: Callable[..., None]):
        self.note = note

    def on_any_event(self, event: FileSystemEvent) -> None:
        # A file closed after writing is a write to it, as for shipper.tail.watcher's own watches: the tailer reads
        # it if it follows it and scans only for one it could follow (a scan of every file for each line a writer
        # appended with open-write-close: tests/tail/test_attack19_quiet_files_wildcard_folder_line_cost.py).
        if event.event_type in ("modified", "closed"):
            if not event.is_directory:
                self.note(path=os.fsdecode(event.src_path))
        elif event.event_type in ("created", "moved", "deleted"):
            self.note(structure=True)
