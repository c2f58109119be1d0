"""Matched paths that are not regular files (a FIFO, a socket, a device): named once, not read.

The agent reads regular files only: a FIFO's bytes go to whichever reader takes them first (reading one would steal
them from its real reader, and a FIFO with no writer blocks an open), and a device or socket is no log. Fluent Bit and
Filebeat leave such a path out without a word; an operator who pointed `paths` at a pipe then waits for lines that
never come. So each is warned once, by name and kind, and named again only if it goes and comes back. Folders are left
out silently: a glob such as `/var/log/app/*` meets subfolders as a matter of course.
"""
from __future__ import annotations

import logging
import os

from shipper.config_base import file_kind


class NotRegular:
    """The paths a source's globs match that are not regular files, each warned once while it stays."""

    def __init__(self, log: logging.Logger) -> None:
        self.log = log
        self.named: dict[str, str] = {}  # path -> its kind, warned

    def look(self, paths: list[str]) -> None:
        """A scan's matches that are neither regular files nor folders (discovery.expand's `others`): each warned the
        first time it is met; one missing from the scan is forgotten (named again if it comes back)."""
        now: dict[str, str] = {}
        for path in paths:
            try:
                mode = os.stat(path).st_mode
            except OSError:
                continue  # (gone since the glob)
            kind = now[path] = file_kind(mode)
            if self.named.get(path) != kind:
                self.log.warning(f"{path} is {kind}, not a regular file: not read (the source's `paths` match it; "
                                 "the agent reads regular files only). Point `paths` at the file the program writes, "
                                 "or leave this one out with `exclude`", extra={"path": path})
        self.named = now
