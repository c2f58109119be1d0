"""What the holder of rotated files holds, kept on disk as it goes, so that a run killed while it held a file
(kill -9, a crash, the OOM killer: no stop names anything) leaves the next start enough to name that file lost.

The holder (holder.py) opens a rotated file the moment it appears and keeps it readable until the tailer takes
it at its next scan. Until then the file is known to the holder alone: not to the tailer, not to its checkpoint.
Killed meanwhile, the descriptor closes with the process; a file deleted since (the next rotation, a cleaner) is
gone, and the next start, whose checkpoint never knew it, said nothing (torture seeds 192113, 195203 and a dozen
more: lines a rotation renamed into a file only the holder had met, deleted unread).

So every file the holder holds by itself is written here when it holds it (one line: its identity, family, name,
size and birth time), and crossed out when the holder lets it go (the tailer took it: its checkpoint knows it from
then on; or a stop named it). A plain append with no fsync: it survives the process (a kill), not the machine. The
lines are rewritten (compacted to what is held) once the crossed-out ones outnumber them. At the next start the
holder reads what was left (`before`), and the tailer's first scan names each such file that is on disk no more
and that its checkpoint does not know (name_gone).
"""
from __future__ import annotations

import json
import logging
import os
import zlib
from typing import TYPE_CHECKING, Any

from shipper.tail.identity import MARK_MAX, digest, head_of
from shipper.tail.reader import is_gzip_path
from shipper.tail.state import FileState

if TYPE_CHECKING:
    from shipper.tail.prospector import Prospector

log = logging.getLogger("shipper.tail.holder")

COMPACT_AT = 64  # crossed-out lines past the held ones before the journal is rewritten
PREFIX = 4096  # bytes of a held file read for its fingerprint (compressed, for a .gz)
DATA_MAX = 64 * 1024  # of a .gz's data decompressed from them, at most
MARKS = 32  # line ends marked


class HeldJournal:
    def __init__(self, path: str):
        self.path = path
        self.before = self._load()  # (dev, ino) -> entry: what the run before held and never let go
        self._held: dict[tuple[int, int], str] = {}  # (dev, ino) -> its line
        self._lines = 0
        self._fd: int | None = None
        try:
            os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
            self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND | os.O_CLOEXEC, 0o600)
        except OSError as e:
            log.warning(f"cannot keep what the holder of rotated files holds in {path} ({e.strerror}): a file it holds "
                        "when the agent is killed, and deleted before the next start, is lost unnamed",
                        extra={"path": path, "error": str(e)})

    def _load(self) -> dict[tuple[int, int], dict[str, Any]]:
        try:
            with open(self.path, encoding="utf-8", errors="replace") as fh:
                text = fh.read()
        except OSError:
            return {}
        out: dict[tuple[int, int], dict[str, Any]] = {}
        for line in text.splitlines():
            try:
                e = json.loads(line)
                key = (int(e["dev"]), int(e["ino"]))
                if e.get("op") == "-":
                    out.pop(key, None)
                else:
                    out[key] = e
            except (ValueError, KeyError, TypeError):
                continue  # (a line cut short by the kill)
        return out

    def held(self, key: tuple[int, int], gen: int | None, path: str, family: str, born: int | None,
             printed: dict[str, Any]) -> None:
        line = json.dumps({"op": "+", "dev": key[0], "ino": key[1], "gen": gen, "path": path, "family": family,
                           "born": born, **printed}) + "\n"
        self._held[key] = line
        self._write(line)

    def let_go(self, key: tuple[int, int]) -> None:
        if self._held.pop(key, None) is None:
            return
        if self._lines > 2 * len(self._held) + COMPACT_AT:
            self._rewrite()
        else:
            self._write(json.dumps({"op": "-", "dev": key[0], "ino": key[1]}) + "\n")

    def clear(self) -> None:
        """Everything let go and named (a stop): nothing for the next start to name."""
        self._held = {}
        self._rewrite()

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _write(self, line: str) -> None:
        if self._fd is None:
            return
        try:
            os.write(self._fd, line.encode())
            self._lines += 1
        except OSError:
            pass  # (a full disk: the next start names less; the checkpoint's store says why)

    def _rewrite(self) -> None:
        if self._fd is None:
            return
        try:
            os.ftruncate(self._fd, 0)
            self._lines = 0
            if self._held:
                os.write(self._fd, "".join(self._held.values()).encode())
                self._lines = len(self._held)
        except OSError:
            pass


def fingerprint(fd: int, size: int, gz: bool) -> dict[str, Any]:
    """What the next start compares a held file with, should it be gone by then (name_gone): its head as the tailer
    fingerprints it (identity.head_of), the marks of its first line ends (the hash of the MARK_MAX bytes before each,
    as a checkpoint's `mark` and `earlier` are), the mark at its end (a plain file), and its length (of a .gz: of its
    data, or a lower bound when its first PREFIX compressed bytes do not hold it all). A read of PREFIX bytes."""
    try:
        raw = os.pread(fd, PREFIX, 0)
        more = False
        if gz:
            z = zlib.decompressobj(31)
            data = z.decompress(raw, DATA_MAX)
            more = not z.eof
            length = len(data)
        else:
            data, length = raw, size
        hole = len(data) - len(data.lstrip(b"\0"))
        if hole:
            # Zeros a writer without O_APPEND left at its start: the tailer knows such a content by what follows them
            # (not by a head of its own): nothing to compare it with, what of it was read elsewhere is not known.
            return {"length": length - hole, "more": True}
        head = head_of(data)
        out: dict[str, Any] = {"length": length, "more": more}
        if head is None:
            return out
        out["head"] = [len(head), digest(head)]
        marks: list[list[Any]] = []
        at = data.find(b"\n", len(head))
        span = len(data)  # every line end up to here is marked
        while at >= 0:
            if len(marks) == MARKS:
                span = at
                break
            marks.append([at + 1, digest(data[max(0, at + 1 - MARK_MAX):at + 1])])
            at = data.find(b"\n", at + 1)
        if not gz and size > len(head) and size > len(data):
            marks.append([size, digest(os.pread(fd, MARK_MAX, max(0, size - MARK_MAX)))])
        out["marks"], out["span"] = marks, span
        return out
    except (OSError, zlib.error):
        return {"length": 0 if gz else size, "more": True}


def name_gone(p: Prospector, before: dict[tuple[int, int], dict[str, Any]]) -> None:
    """At the first scan after a start: `before`, the files the run before held by itself when it ended without a
    stop (HeldJournal.before). One still on disk under its family's folder (the same inode and generation) is
    found, and read, by the scans; one whose state the checkpoint has is the checkpoint's to name. The others were
    deleted unread, and what they held is lost unless it was read from another file: a held file may be a copy
    (copytruncate's, a .gz) of a content the checkpoint says was read, or on disk to be read now, or hold lines of
    one. The contents with its head (its first line: a header the family shares starts them all) may have been its
    origin: what of it lies past the furthest they were (or will be) read was read nowhere, and is named lost, "or
    more" (it may have grown after it was held) — unless a content of the family was cut in place (copytruncate):
    what was read of it before the cut is in no saved state. Not more: the rest may be lines read from that origin.
    Where nothing lies past them, or the file was empty, or a plain file may live on in a compressed file of its family made after it (logrotate's
    `compress`: read whole from its start by this run), nothing tells: a possible loss, warned, not counted —
    except a file its marks prove a copy of what was read (the same bytes before a saved read position): nothing
    lost, nothing said."""
    if not before:
        return
    # The saved contents, and how far each was or will be read: a file on disk now is read on to its end by this run
    # (a .gz not open yet, to an end not known).
    reach = [(lo.state, lo.state.offset) for lo in p.loose.values()]
    for f in p.files.values():
        if f.state is not None:
            end = (f.fh.size() if f.fh is not None else 1 << 62) if f.gz else f.size
            reach.append((f.state, max(f.state.offset, end)))
    states = [s for s, _ in reach]
    known = {(s.dev, s.ino): s.gen for s in states}
    lost: dict[str, list[tuple[int, str]]] = {}  # family -> (bytes at least, name)
    maybe: dict[str, list[str]] = {}
    for key, e in before.items():
        gen = e.get("gen")
        if key in known and (known[key] in (-1, None) or gen is None or known[key] == gen):
            continue
        path, family = str(e.get("path", "")), str(e.get("family", ""))
        if not path or family not in p.families or _on_disk(key, gen, os.path.dirname(path)):
            # (A family this source follows no more, or at all: a journal a renamed source left is not its own.)
            continue
        name = os.path.basename(path)
        head = e.get("head")
        length = int(e.get("length") or 0)
        marks = {int(o): str(m) for o, m in e.get("marks") or []}
        span = int(e.get("span") or 0)
        origins = [(s, end) for s, end in reach if s.family == family and head is not None
                   and [s.head_len, s.head] == list(head) and _may_hold(s, marks, span)]
        copy = any(marks.get(s.offset) == s.mark and s.offset >= length for s, _ in origins if s.offset > s.head_len)
        live = path == family  # (held at its creation under the live name: written to after, maybe)
        unread = length - max((end for _, end in origins), default=0)
        if head is None or unread <= 0 or any(s.after or s.cut for s in states if s.family == family):
            # (A content of the family cut in place and written again: what was read of it before is in no saved
            # state, and the held file may be its copy.)
            if not (copy and not live):
                maybe.setdefault(family, []).append(name)
            continue
        if not is_gzip_path(path) and _compressed_since(family, e.get("born")):
            maybe.setdefault(family, []).append(name)
            continue
        lost.setdefault(family, []).append((unread, name))
    for family, files in sorted(lost.items()):
        listed = ", ".join(name for _, name in files)
        p.ledger.lost(family, sum(n for n, _ in files),
                      f"were in {len(files)} rotated file(s) of it ({listed}) that the agent held open, unread, when it "
                      "ended without a stop (killed, or crashed), and that were deleted before this start",
                      unknown=True)
    for family, unsure in sorted(maybe.items()):
        p.log.warning(f"data possibly lost: an unknown number of bytes of {family}, in {len(unsure)} rotated file(s) of "
                      f"it ({', '.join(unsure)}) that the agent held open, unread, when it ended without a stop (killed, "
                      "or crashed), and that were deleted before this start: what they held past their first line may "
                      "be lines read from other files of it (nothing tells)", extra={"path": family})


def _may_hold(s: FileState, marks: dict[int, str], span: int) -> bool:
    """May the held file whose first line ends are `marks` (every one up to `span`, and its end) hold what was read of
    the content `s` (its head the same)? Not when a line end read of `s` within that span, or at a mark past it, is
    not one of them with the same bytes before it: the two part there. (What lies past the span is not known.)"""
    read = [(s.offset, s.mark)] + [(int(o), str(m)) for o, m in s.earlier or []]
    return all(marks.get(o) == m for o, m in read if s.head_len < o and (o <= span or o in marks))


def _on_disk(key: tuple[int, int], gen: int | None, folder: str) -> bool:
    """Is the file `key` (of generation `gen`) under a name in `folder` still?"""
    from shipper.tail.holder import generation
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return True  # (not known: not named)
    for e in entries:
        try:
            if e.inode() != key[1]:
                continue
            fd = os.open(e.path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
        except OSError:
            continue
        try:
            st = os.fstat(fd)
            if (st.st_dev, st.st_ino) == key and (gen is None or generation(fd) in (None, gen)):
                return True
        finally:
            os.close(fd)
    return False


def _compressed_since(family: str, born: int | None) -> bool:
    """Is there a compressed file of `family` made after the file born at `born` (None: not known)?"""
    from shipper.tail import birth, discovery
    folder, live = os.path.split(family)
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return True
    for e in entries:
        if not is_gzip_path(e.name) or not discovery.is_rotated_name(live, e.name):
            continue
        if born is None:
            return True
        b = birth.born(e.path, e.inode())
        if b is None or b >= born:
            return True
    return False
