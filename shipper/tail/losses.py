"""Loss accounting of the tailer: every loss is warned once, naming the file, how many bytes and
why, and counted (its owner keeps the counts as metrics: TailEvents). Nothing is lost silently."""
from __future__ import annotations

import logging
import os
from typing import Callable, Container, Iterable

from shipper.tail.events import TailEvents
from shipper.tail.reader import gzip_length


class LossLedger:
    def __init__(self, log: logging.Logger, events: TailEvents,
                 kept_in: Callable[[int, str, int], str | None] | None = None):
        self.log = log
        self.events = events
        self.kept_in = kept_in  # (descriptor, family, size) -> a file holding all of that deleted file (copies.py)
        self.bytes_lost = 0
        self.losses = 0
        self.hole_bytes = 0  # zero bytes skipped (holes), never shipped
        self.bytes_read_again = 0  # bytes read again from an earlier offset (an edit that could not be placed)

    def lost(self, path: str, nbytes: int, why: str, unknown: bool = False) -> None:
        """One loss, warned once and counted. `unknown`: more than nbytes may be lost (how much
        cannot be known); nbytes 0 then reads "an unknown number of bytes"."""
        self.bytes_lost += nbytes
        self.losses += 1
        amount = (f"{nbytes} bytes or more" if nbytes else "an unknown number of bytes") if unknown else f"{nbytes} bytes"
        self.log.warning(f"data lost: {amount} of {path} {why}",
                         extra={"path": path, "bytes_lost": nbytes, "size_known": not unknown})
        self.events.lost(path, nbytes)

    def copytruncate_window(self, family: str, copy: str, found: str, cut: str = "the file") -> None:
        """What was written between the copy to `copy` and the truncation of `cut` (a file of `family`), a loss
        of unknown size that copytruncate rotation makes; `found`: what showed the cut."""
        self.lost(family, 0, f"were written between the copy to {copy} and the truncation of {cut} ({found}; "
                             "copytruncate rotation loses what is written in that window; rotate with `create` to "
                             "lose nothing)", unknown=True)

    def let_go(self, files: Iterable[tuple[int, str, int | None]], why: str) -> set[tuple[int, int]]:
        """Files held open, about to be closed for good (`why`: a stop; a holder no successor took):
        (descriptor, family, bytes of it read; None: unknown, a compressed file read in part). One
        that is deleted loses its unread bytes with its last descriptor: warned per family (with the
        count of files) and counted. (A checkpoint names only what was unread up to the size it
        saved: a file rotated away unread, or grown since, was named nowhere.)
        One that a file of its family holds whole (its .gz) is not lost: the next start reads it on
        there; where is said (info). Returns the (device, inode) of the files named lost."""
        per: dict[str, tuple[int, int, bool]] = {}  # family -> (files, bytes, more may be lost)
        named: set[tuple[int, int]] = set()
        seen: set[tuple[int, int]] = set()
        for fd, fam, read in files:
            try:
                st = os.fstat(fd)
            except OSError:
                continue
            if (st.st_dev, st.st_ino) in seen:
                continue  # (the first of a file's descriptors tells what was read of it)
            seen.add((st.st_dev, st.st_ino))
            # A .gz holds more than its size on disk, and what was read of it counts its decompressed bytes: taken by
            # its size, a Log4j 2 `.gz` of 4,008 bytes held at a stop was named as 420, and one read in part (past its
            # compressed size) was taken as read to its end, unnamed.
            length = gzip_length(fd)
            unread = (st.st_size if length is None else length) - (read or 0)
            if st.st_nlink or (read is not None and unread <= 0):
                continue  # still under a name (found again), or read to its end
            copy = (self.kept_in(fd, fam, st.st_size) if read is not None and length is None and self.kept_in is not None
                    else None)
            if copy is not None:
                self.log.info(f"{fam}: a rotated file of it, deleted while the agent held it open, was let go with "
                              f"{unread} bytes not read yet ({why} before they were read): {copy} holds all of it, "
                              "and the next start reads it on from there", extra={"path": fam, "copy": copy})
                continue
            n, nbytes, unknown = per.get(fam, (0, 0, False))
            per[fam] = (n + 1, nbytes + (unread if read is not None else 0), unknown or read is None or length is not None)
            named.add((st.st_dev, st.st_ino))
        for fam, (n, nbytes, unknown) in sorted(per.items()):
            self.lost(fam, nbytes, f"were never read: {n} rotated file(s) of it were deleted while the agent held "
                                   f"them open, and {why} before they were read", unknown=unknown)
        return named

    def holes(self, path: str, holes: list[tuple[int, int]]) -> None:
        """Zero bytes skipped (holes, at (offset, bytes)): warned and counted, never shipped."""
        n = sum(b for _, b in holes)
        self.hole_bytes += n
        self.log.warning(f"skipped {n} zero bytes in {path} (from offset {holes[0][0]}; a hole left by truncating a "
                         "file under a writer that does not append, preallocation, or a writer cut off mid-line: a "
                         "crash leaves its unwritten blocks as zeros): not shipped",
                         extra={"path": path, "bytes_skipped": n, "offset": holes[0][0]})
        self.events.hole_skipped(n)

    def read_again(self, path: str, nbytes: int, offset: int, why: str) -> None:
        """A file read again from its start, up to `nbytes` of it read before: its content before `offset` (what
        was read of it) changed (`why`), and where what was read ends in it could not be proven. Never silent:
        warned and counted (shipper_bytes_read_again), as a loss is."""
        self.bytes_read_again += nbytes
        self.log.warning(f"re-read {nbytes} bytes of {path}: its content before offset {offset} changed ({why}), and "
                         "where what was read ends in it cannot be proven, so it is read again from its start: the lines "
                         "among those bytes that were shipped before are shipped again",
                         extra={"path": path, "bytes_read_again": nbytes, "offset": offset})
        self.events.read_again(nbytes)

    def repeated(self, path: str, nbytes: int, offset: int, why: str) -> None:
        """Up to `nbytes` of `path` from `offset` may hold lines shipped from another file (`why`): read all the same
        (they may be new too), warned and counted with the bytes read again."""
        self.bytes_read_again += nbytes
        self.log.warning(f"{nbytes} bytes of {path} from offset {offset} may be shipped again: {why}",
                         extra={"path": path, "bytes_read_again": nbytes, "offset": offset})
        self.events.read_again(nbytes)

    def escapes(self, escaped: dict[str, int], families: Container[str]) -> None:
        """Say what the holder could not catch (`escaped`: family -> files), by `families` (the followed
        ones: a rotated file of one; else a new file the globs match)."""
        for fam, n in sorted(escaped.items()):
            least = getattr(n, "least", n)  # holder.Escapes: how many of the n are certain
            files = f"{n}" if least == n else f"at most {n} (at least {least}: the others may be files read meanwhile, or files still on disk)"
            folder = getattr(n, "folder", None)
            if folder is not None:
                why = (f"were in the rotated files its log may have deleted before they could be held (how many, possibly "
                       f"none, is not known): its folder {folder} appeared while the agent was behind or frozen, and the "
                       "log rotated there before the folder was watched (or with no inotify watch to be had there)")
            elif fam in families:
                # The cause the holder knows: the process out of descriptors, its budget refused files of the family
                # meanwhile, or it was behind.
                if getattr(n, "descriptors", False):
                    cause = ("the agent was out of file descriptors when they appeared: raise the descriptor limit "
                             "(LimitNOFILE), see docs/operations.md")
                elif getattr(n, "budget", False):
                    cause = ("the hold budget was full: raise the source's `hold_max_files` / `hold_max_bytes`, or "
                             "the descriptor limit (LimitNOFILE), a quarter of which every file source's holder shares")
                else:
                    cause = "rotations faster than the agent could open them: it was behind, starved of CPU, or frozen"
                why = f"were in {files} rotated file(s) that appeared and were gone before they could be held ({cause})"
            else:  # a new file the globs match, not followed yet
                why = (f"(the whole file; it may have been empty): it was created {files} time(s) and deleted (or "
                       "moved out of the followed names) before it could be opened (the agent frozen or stopped, or "
                       "the file lived too briefly)")
            if least:
                self.lost(fam, 0, why, unknown=True)
            else:  # possible, not certain: warned, not counted
                self.log.warning(f"data possibly lost: an unknown number of bytes of {fam} {why}", extra={"path": fam})
