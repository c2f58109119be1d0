"""Backups in a compression the agent does not read (xz, zstd, bzip2, zip, …): named, not read.

logrotate compresses with any `compresscmd` (xz, zstd, bzip2: `compressext`), and Log4j 2 rolls over into `.zip`,
`.xz`, `.bz2` or `.zst`; the agent reads plain and gzip backups only (as Filebeat and Vector do; docs/design.md says
why). A file under a rotated name of a followed family with one of those suffixes is named once, as a loss of what it
holds that the agent had not read — unless it appeared while the agent ran: then its content was the family's file the
agent followed through the rotation (read before it was compressed, or named lost when that file was let go).

Which backups were met is kept with the source's checkpoint (one "seen" mark a backup, by device and inode, kept while
it exists), so a restart names only those made while the agent was stopped.
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING

from shipper.tail import discovery
from shipper.tail.state import SEEN_PREFIX

if TYPE_CHECKING:
    from shipper.tail.prospector import Prospector

# Suffix -> the compression's name, as an operator knows it.
COMPRESSIONS = {".xz": "xz", ".lzma": "lzma", ".zst": "zstd", ".zstd": "zstd", ".bz2": "bzip2", ".zip": "zip",
                ".lz4": "lz4", ".lz": "lzip", ".lzo": "lzop", ".br": "brotli", ".Z": "compress"}
MARK = "unread-compressed:"  # (after SEEN_PREFIX) a backup met: device:inode


def compression_of(live_name: str, name: str) -> str | None:
    """The compression of `name` when it is a rotated name of `live_name` in a compression the agent does not read
    (app.log.1.xz, app-3.log.zip, app.log-20240102.zst), else None."""
    for suffix, compression in COMPRESSIONS.items():
        if name.endswith(suffix) and discovery.is_rotated_name(live_name, name[: -len(suffix)]):
            return compression
    return None


def compressed_names(listing: list[str]) -> list[str]:
    """The names of `listing` (a folder's) with a suffix of a compression the agent does not read: looked at once a
    folder, so that a folder of thousands of quiet logs costs one pass of its names a scan, not one a family."""
    suffixes = tuple(COMPRESSIONS)
    return [name for name in listing if name.endswith(suffixes)]


def backups_of(family: str, candidates: list[str]) -> list[tuple[str, str]]:
    """(path, compression) of each backup of `family` among `candidates` (its folder's compressed_names) the agent
    cannot read."""
    folder, live_name = os.path.split(family)
    found = []
    for name in sorted(candidates):
        compression = compression_of(live_name, name)
        if compression is not None:
            found.append((os.path.join(folder, name), compression))
    return found


class UnreadCompressed:
    """The backups in a compression the agent does not read, of one source's families: named once each."""

    def __init__(self) -> None:
        self.by_family: dict[str, list[tuple[str, str]]] = {}  # (the last scan) family -> its unreadable backups
        self.named_at_start: set[str] = set()  # families whose backups this start named lost

    def look(self, p: Prospector, families: set[str]) -> None:
        """At each scan: list the families' folders; a backup met for the first time is marked seen, and named lost
        when met at the first scan of a run (made while the agent was stopped) in a folder looked through before
        (a first deployment names them too: history the agent will not read, unless `read_from: end` skips it)."""
        listings: dict[str, list[str] | None] = {}
        self.by_family = {}
        complete = True
        for family in sorted(families):
            folder = os.path.dirname(family)
            if folder not in listings:
                try:
                    listings[folder] = compressed_names(os.listdir(folder))
                except OSError:
                    listings[folder], complete = None, False
            listing = listings[folder]
            if listing:
                found = backups_of(family, listing)
                if found:
                    self.by_family[family] = found
        present = set()
        for family, found in self.by_family.items():
            for path, compression in found:
                try:
                    st = os.stat(path)
                except OSError:
                    continue
                mark = f"{MARK}{st.st_dev}:{st.st_ino}"
                present.add(mark)
                if mark in p.seen:
                    continue
                p.seen.add(mark)
                p.pending[SEEN_PREFIX + mark] = 1
                if not p.first_scan or (p.read_from == "end" and not p._looked_through(family)):
                    continue
                self.named_at_start.add(family)
                p.ledger.lost(path, 0, f"(what it holds that the agent had not read: the rest of {family} as last "
                                       "read, or a whole backup never read) cannot be read: it is compressed with "
                                       f"{compression}, which the agent does not read (it reads plain and gzip "
                                       "backups). Compress with gzip (logrotate: no `compresscmd`; Log4j 2: a `.gz` "
                                       "pattern), or add logrotate's `delaycompress` so the agent reads the plain "
                                       f"backup before it is compressed; {path} itself is untouched: decompress it "
                                       "and ship it by hand if it is needed", unknown=True)
        if complete:
            for mark in [m for m in p.seen if m.startswith(MARK) and m not in present]:
                p.seen.discard(mark)  # (the backup is gone: its mark goes with it)
                p.pending[SEEN_PREFIX + mark] = None

    def cause(self, family: str) -> str | None:
        """Where the rest of `family`'s live file, gone unread while the agent was stopped, most likely is: its
        backups in a compression the agent does not read (named on their own), if it has some."""
        found = self.by_family.get(family)
        if not found:
            return None
        names = ", ".join(f"{os.path.basename(path)} ({compression})" for path, compression in found)
        return (f"was rotated and compressed while the agent was away, most likely into one of its backups the agent "
                f"cannot read: {names} (each named on its own)")
