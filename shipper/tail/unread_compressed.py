"""Backups in a compression the agent does not read (xz, zstd, bzip2, zip, …): named, not read.

logrotate compresses with any `compresscmd` (xz, zstd, bzip2: `compressext`), and Log4j 2 rolls over into `.zip`,
`.xz`, `.bz2` or `.zst`; the agent reads plain and gzip backups only (as Filebeat and Vector do; docs/design.md says
why). A file under a rotated name of a followed family with one of those suffixes is named once, as a loss of what it
holds that the agent had not read — unless it appeared while the agent ran: then its content was the family's file the
agent followed through the rotation (read before it was compressed, or named lost when that file was let go).

Which backups were met is kept with the source's checkpoint (one "seen" mark a backup, by device and inode, kept while
it exists), so a restart names only those made while the agent was stopped.

A glob that matches such a file itself (`paths: [/var/log/app/*]` lists app.log.1.xz; `*.xz`) does not make it a log:
its bytes read as lines were junk records (Filebeat ships them so). It is told by its suffix and its first bytes (the
format's magic number; brotli has none: control bytes no text holds), so a text log named `www.example.com.br` is still
read; one still empty waits for its first bytes. Left out of the scan, it is a backup as above when its name is a
rotated name of a followed log, and otherwise a file of its own the agent does not read: named once (a first
deployment with `read_from: end` skips it as history, silently).
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
# The first bytes of each format, where it has them (zip: a local file header, or the end record of an empty archive).
MAGIC = {"xz": (b"\xfd7zXZ\x00",), "lzma": (b"\x5d\x00\x00",), "zstd": (b"\x28\xb5\x2f\xfd",), "bzip2": (b"BZh",),
         "zip": (b"PK\x03\x04", b"PK\x05\x06"), "lz4": (b"\x04\x22\x4d\x18",), "lzip": (b"LZIP",),
         "lzop": (b"\x89LZO",), "compress": (b"\x1f\x9d",)}
SNIFF = 256  # bytes read to tell a compressed file from text
# Bytes no text log holds: control characters other than tab, line ends, form feed and ESC (terminal colours). 256
# compressed (random) bytes hold none of them once in ~10^12; a text log in any 8-bit or UTF-8 encoding never.
_NOT_TEXT = frozenset(range(32)) - frozenset(b"\t\n\r\v\f\x1b")


def compression_of(live_name: str, name: str) -> str | None:
    """The compression of `name` when it is a rotated name of `live_name` in a compression the agent does not read
    (app.log.1.xz, app-3.log.zip, app.log-20240102.zst), else None."""
    for suffix, compression in COMPRESSIONS.items():
        if name.endswith(suffix) and discovery.is_rotated_name(live_name, name[: -len(suffix)]):
            return compression
    return None


def suffix_compression(name: str) -> str | None:
    """The compression a file's name says (app.log.1.xz: xz), whatever it is a rotated name of."""
    for suffix, compression in COMPRESSIONS.items():
        if name.endswith(suffix):
            return compression
    return None


def looks_compressed(compression: str, first: bytes) -> bool:
    """Do a file's `first` bytes (SNIFF of them, fewer in a shorter file) show it is in `compression`? By its magic
    number; for a format without one (brotli), by bytes that are not text."""
    magic = MAGIC.get(compression)
    if magic is not None:
        return first.startswith(magic)
    return not _NOT_TEXT.isdisjoint(first)


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
        self.matched: dict[str, tuple[os.stat_result, str]] = {}  # (this scan) path a glob matched -> stat, compression
        self._told: dict[tuple[int, int], str | None] = {}  # (dev, ino) -> its compression, or None: text
        self._told_now: dict[tuple[int, int], str | None] = {}

    def new_scan(self) -> None:
        """A scan begins: what its files were told to be is kept for the files it lists again (a compressed file never
        turns into text, nor a log into a compressed file: its first bytes are read once)."""
        self._told, self._told_now, self.matched = self._told_now, {}, {}

    def not_text(self, path: str, st: os.stat_result, fd: int | None = None) -> bool:
        """Is the file at `path` (a scan's candidate, `st` its stat; `fd`: the holder's descriptor of it) one the agent
        does not read, compressed in a format it does not read? Then the scan leaves it out, and look() names it. An
        empty one with such a suffix is left out too, until its first bytes tell (a compressor just made it)."""
        compression = suffix_compression(os.path.basename(path))
        if compression is None:
            return False
        key = (st.st_dev, st.st_ino)
        if key in self._told_now:
            told = self._told_now[key]
        elif key in self._told:
            told = self._told_now[key] = self._told[key]
        elif st.st_size == 0:
            told = compression
        else:
            try:
                if fd is not None:
                    first = os.pread(fd, SNIFF, 0)
                else:
                    with open(path, "rb") as fh:
                        first = fh.read(SNIFF)
            except OSError:
                return False  # (followed, its open failure is named there)
            told = self._told_now[key] = compression if looks_compressed(compression, first) else None
        if told is not None:
            self.matched[path] = (st, told)
        return told is not None

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
        present: set[str] = set()
        for family, found in self.by_family.items():
            for path, compression in found:
                try:
                    st = os.stat(path)
                except OSError:
                    continue
                if not _first_sight(p, st, present):
                    continue
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
        backups = {path for found in self.by_family.values() for path, _ in found}
        for path, (st, compression) in sorted(self.matched.items()):
            if path in backups or st.st_size == 0:
                continue
            if not _first_sight(p, st, present):
                continue
            if p.first_scan and p.read_from == "end" and not p._looked_through(path):
                continue  # (history, skipped as any file found at the first look is)
            p.ledger.lost(path, 0, f"(the whole file) is not read: the source's `paths` match it, but it is compressed "
                                   f"with {compression}, which the agent does not read (it reads plain and gzip "
                                   "files). Decompress it to ship it, or leave it out with `exclude`", unknown=True)
        if complete:
            for mark in [m for m in p.seen if m.startswith(MARK) and m not in present]:
                p.seen.discard(mark)  # (the backup is gone: its mark goes with it)
                p.pending[SEEN_PREFIX + mark] = None

    def look_at_stop(self, p: Prospector) -> None:
        """At a stop: the backups made since the last look, met as a look while the agent runs meets them (marked
        seen, not named): their content was the file the agent followed through the rotation. Met first by the
        next start, one made after the last look was named lost although every line of it had been delivered
        (tests/tail/test_compressed_backup_made_right_before_stop.py). Not before the first look (what it would
        name is the start's to name)."""
        if not p.first_scan:
            self.look(p, {f.family for f in p.files.values()} | {lo.state.family for lo in p.loose.values()})

    def cause(self, family: str) -> str | None:
        """Where the rest of `family`'s live file, gone unread while the agent was stopped, most likely is: its
        backups in a compression the agent does not read (named on their own), if it has some."""
        found = self.by_family.get(family)
        if not found:
            return None
        names = ", ".join(f"{os.path.basename(path)} ({compression})" for path, compression in found)
        return (f"was rotated and compressed while the agent was away, most likely into one of its backups the agent "
                f"cannot read: {names} (each named on its own)")


def _first_sight(p: Prospector, st: os.stat_result, present: set[str]) -> bool:
    """Is this compressed file (by device and inode) met for the first time? Marked seen (saved with the source's
    state) and `present` (a mark no longer present goes) either way."""
    mark = f"{MARK}{st.st_dev}:{st.st_ino}"
    present.add(mark)
    if mark in p.seen:
        return False
    p.seen.add(mark)
    p.pending[SEEN_PREFIX + mark] = 1
    return True
