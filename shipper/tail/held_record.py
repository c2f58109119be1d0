"""What the holder of rotated files holds by itself, kept in the source's checkpoint, so that a run killed while
it held a file (kill -9, a crash, the OOM killer: no stop names anything) leaves the next start enough to name that
file lost.

The holder (holder.py) opens a rotated file the moment it appears and keeps it readable until the tailer takes it at
its next scan. Until then the file is known to the holder alone: not to the tailer, not to its checkpoint. Killed
meanwhile, the descriptor closes with the process; a file deleted since (the next rotation, a cleaner) is gone, and
the next start, whose checkpoint never knew it, said nothing (torture seeds 193103, 194085, 194147, 194217, 207137,
209149: lines a rotation renamed into a file only the holder had met, deleted unread).

So each file the holder holds by itself has an entry here (its identity, family, name, birth time and what compares
it once gone: `fingerprint`), under a checkpoint key of its own (`held:<device>:<inode>`), dropped when the holder
lets the file go (the tailer took it: its state says the rest from then on; or a stop named it). Nothing here writes
to the state_dir: the entries reach the checkpoint database through its writer process, as every state does, by two
ways (a frozen state_dir never holds the agent's own threads):
- the tailer's checkpoint queue (Tailer.scan, Tailer.flush: `take_changes`), which goes out with its next batch:
  new entries and the deletion of those let go, beside the states of the files taken (the same fragment);
- `HeldSaver`, when the tailer lags (its thread held back by an output down, busy with a backlog): a file still held
  by the holder alone GATHER seconds after it was held is saved at once (SourceContext.note), from a thread of its
  own, one request for what was held meanwhile. When the tailer keeps up it has taken the file by then: nothing is
  written. Deletions go only with the tailer's batches (a note of them could land before the taken file's state).
At most what is held is recorded, plus those let go since the tailer's last scan. At the next start the tailer's first
scan names each entry left whose file is on disk no more and whose state the checkpoint does not have (held_gone.py),
and deletes every entry of the run before.
"""
from __future__ import annotations

import logging
import os
import threading
import zlib
from typing import Any, Callable

from shipper.tail.identity import MARK_MAX, digest, head_of

log = logging.getLogger("shipper.tail.holder")

HELD_PREFIX = "held:"  # a checkpoint key: held:<device>:<inode>
PREFIX = 4096  # bytes of a held file read for its fingerprint (compressed, for a .gz)
DATA_MAX = 64 * 1024  # of a .gz's data decompressed from them, at most
MARKS = 32  # line ends marked
GATHER = 0.25  # seconds a file stays held by the holder alone before HeldSaver saves its entry


def held_key(key: tuple[int, int]) -> str:
    return f"{HELD_PREFIX}{key[0]}:{key[1]}"


def held_before(state: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The entries of a loaded checkpoint (checkpoint key -> entry): what the run that saved it held by itself."""
    return {k: v for k, v in state.items() if k.startswith(HELD_PREFIX) and isinstance(v, dict)}


class HeldRecord:
    """The entries of the files a holder holds by itself, and which of them the checkpoint has (thread-safe: the
    holder's thread records, the tailer's and HeldSaver's take)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, dict[str, Any]] = {}  # checkpoint key -> entry: held now by the holder alone
        self._unsaved: set[str] = set()  # recorded, not handed out to be saved yet
        self._saved: set[str] = set()  # handed out to be saved, not let go since
        self._gone: set[str] = set()  # saved, then let go: their deletion not handed out yet
        self._saving: set[str] = set()  # handed to HeldSaver, its note not returned yet

    def __len__(self) -> int:
        return len(self._entries)

    def keys(self) -> set[str]:
        with self._lock:
            return set(self._entries)

    def held(self, key: tuple[int, int], entry: dict[str, Any]) -> None:
        k = held_key(key)
        with self._lock:
            self._entries[k] = entry
            self._unsaved.add(k)
            self._gone.discard(k)

    def let_go(self, key: tuple[int, int]) -> None:
        k = held_key(key)
        with self._lock:
            if self._entries.pop(k, None) is None:
                return
            self._unsaved.discard(k)  # (never saved: nothing to delete)
            if k in self._saved:
                self._saved.discard(k)
                self._gone.add(k)

    def take_new(self) -> dict[str, Any]:
        """HeldSaver's: the entries not saved yet (each kept from deletion until `saved`)."""
        with self._lock:
            out = {k: self._entries[k] for k in self._unsaved}
            self._saved |= self._unsaved
            self._saving |= self._unsaved
            self._unsaved = set()
            return out

    def saved(self, keys: set[str]) -> None:
        """HeldSaver's note of `keys` returned (saved, or given up)."""
        with self._lock:
            self._saving -= keys

    def take_changes(self) -> dict[str, Any]:
        """The tailer's: the entries not saved yet, and the deletion of those let go since they were (not of one
        HeldSaver is still saving: its late note would put it back; deleted at a later take)."""
        with self._lock:
            out: dict[str, Any] = {k: self._entries[k] for k in self._unsaved}
            self._saved |= self._unsaved
            self._unsaved = set()
            for k in self._gone - self._saving:
                out[k] = None
            self._gone &= self._saving
            return out


class HeldSaver:
    """Saves, through `note` (SourceContext.note: the checkpoint writer, at once, not on delivery), the entries of the
    files the holder still holds by itself GATHER seconds after it held them: a tailer lagging (held back by an output
    down, a backlog) takes no file, and a kill -9 meanwhile left the next start nothing to name. A thread of its own,
    started at the first file held, waiting for nothing while nothing is held (no wake-ups when idle); blocked in a
    note on a frozen state_dir, it holds nobody (the stop gives the store up at its end: the note returns)."""

    def __init__(self, record: HeldRecord) -> None:
        self.record = record
        self.note: Callable[[dict[str, Any]], Any] | None = None
        self._wake = threading.Event()
        self._end = threading.Event()
        self._thread: threading.Thread | None = None

    def held_new(self) -> None:
        """(The holder's thread, after it held files.) Save what is still held by itself soon."""
        if self.note is None or self._end.is_set():
            return
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="shipper-held-saver", daemon=True)
            self._thread.start()
        self._wake.set()

    def end(self) -> None:
        self._end.set()
        self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            if self._end.wait(GATHER):  # (a plain wait: the tailer takes the files meanwhile, if it keeps up)
                return
            note = self.note
            if note is None:
                continue
            fragment = self.record.take_new()
            if not fragment:
                continue
            try:
                note(fragment)
            except Exception as e:  # (a store given up at a stop, a writer gone: the next start names less)
                log.debug("the files held could not be noted in the checkpoint", extra={"error": str(e)})
            finally:
                self.record.saved(set(fragment))


def fingerprint(fd: int, size: int, gz: bool) -> dict[str, Any]:
    """What the next start compares a held file with, should it be gone by then (held_gone.name_gone): its head as the tailer
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
