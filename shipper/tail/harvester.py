"""The harvester: reads one followed file from its checkpoint to its end and emits its complete lines
as Chunks (records, their keys, the checkpoint true once they are delivered), in batches. Zero bytes
where a line should start are a hole: skipped and reported, never shipped. A compressed file whose
stream ends early is told once it stops changing; a deleted file's unfinished last line is shipped as
it is, tagged. Which file to read, and whether it is still the same one, is the prospector's to decide (prospector.py)."""
from __future__ import annotations

import bisect
import logging
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from shipper.tail import clock, looks
from shipper.tail.checkpoint_queue import CheckpointQueue
from shipper.tail.events import TailEvents
from shipper.tail.followed import Followed, Identified
from shipper.tail.identity import MARK_MAX, WINDOW, digest
from shipper.tail.keys import LineKeys
from shipper.tail.lines import TRUNCATED, UNFINISHED, split_lines
from shipper.tail.losses import LossLedger
from shipper.tail.reader import OpenFile
from shipper.tail.state import EARLIER_MARKS, FileState

READ_SIZE = 1 << 20
UNDECIDED_SECONDS = 10.0  # a compressed file whose stream ends early, unchanged this long, was cut short


@dataclass
class Chunk:
    """Lines of one file (or none: a checkpoint-only fragment), keyed by position."""

    records: list[bytes]
    keys: Sequence[str]  # "<file id>:<offset>" per record (a LineKeys: formatted when asked)
    flags: list[tuple[str, ...]] | None
    checkpoint: dict[str, Any]
    nbytes: int
    path: str | None


class Harvester:
    def __init__(self, *, max_line_bytes: int, batch_lines: int, events: TailEvents, ledger: LossLedger,
                 pending: CheckpointQueue, log: logging.Logger):
        self.max_line = max_line_bytes
        self.read_size = max(READ_SIZE, max_line_bytes + 2)  # a line at the limit, then CRLF
        self.batch_lines = batch_lines
        self.events = events
        self.ledger = ledger
        self.pending = pending  # the tailer's: what waits goes out with the next lines
        self.log = log

    def read(self, f: Identified, fh: OpenFile, pre: int, emit: Callable[[Chunk], None], stop,
             pre_mtime_ns: int = 0, pre_ctime_ns: int = 0) -> bool:
        """Read the followed file `f` (open as `fh`, identified, `pre` its size just taken) from its offset
        on: its complete lines emitted as Chunks of at most batch_lines, each with the checkpoint that is
        true once they are delivered; holes skipped and reported, a cut .gz told, a deleted file's
        unfinished last line shipped (see gone.finish_unfinished). True if any line was emitted."""
        s = f.state
        got = False
        ended = f.zeros = False
        keep_window = f.path == f.family and not f.gz  # only a live file is copied and truncated
        holes: list[tuple[int, int]] = []  # (offset, bytes) of runs of zero bytes skipped
        end_seen = pre  # the file's size as the reads saw it: no fstat after them
        started = clock.monotonic()
        while not stop.is_set():
            looked = f.looked_size  # (a look before this read: also one while an emit below held the reader)
            data = fh.read(s.offset, self.read_size)
            tail0 = f.tail  # the bytes before data[0] (f.tail moves on with each batch below)
            end_seen = max(end_seen, s.offset + len(data))
            if looked > s.offset + len(data) and len(data) < self.read_size and not f.gz:
                looks.cut_above(f, fh, s.offset + len(data), looked, self.ledger)
            if not data:
                ended = True
                break
            if self.overwritten_under(f, fh, pre):
                break
            if data[:1] == b"\0" and not s.cont:
                # A hole (a file truncated under a writer without O_APPEND, or preallocated):
                # zero bytes are no line; skipped, counted, and the first real line starts clean.
                n = len(data) - len(data.lstrip(b"\0"))
                if n == len(data):
                    # Zeros to the end of the read: a hole of 200 GiB read zero by zero held the
                    # source half an hour. The kernel says where data starts again (its zeros,
                    # if any, go as above).
                    after = fh.data_after(s.offset + n)
                    if after is not None and after > s.offset + n:
                        n = after - s.offset
                    if not f.final and not f.gz and s.offset + n >= fh.stat().st_size:
                        # Zeros to the end of the file are no hole, not yet: a writer that maps its
                        # file (Log4j 2's MemoryMappedFile) or preallocates it writes its lines into
                        # them. They wait, as a partial line does (a file let go has them skipped).
                        f.zeros = ended = True
                        break
                holes.append((s.offset, n))
                s.offset += n
                f.tail = (f.tail + b"\0" * min(n, MARK_MAX))[-MARK_MAX:]
                s.mark = digest(f.tail)
                f.window = b""
                self.pending[s.key] = s
                continue
            read_len = len(data)
            if data[-1:] == b"\0" and not f.final and data.rstrip(b"\0"):
                data = data.rstrip(b"\0")  # zeros after the last byte written wait (above)
                f.zeros = True
            lines = split_lines(data, s.offset, self.max_line, s.cont)
            if b"\0" in data:
                self.strip_holes(lines, holes)
                if not lines.records and lines.consumed:  # nothing but holes: only the position moves
                    # (Nothing consumed: an unfinished line holding a zero byte, which waits below.
                    # Taken for holes, the loop read it again from the same offset forever.)
                    s.offset += lines.consumed
                    f.tail = (f.tail + data[: lines.consumed])[-MARK_MAX:]
                    s.mark, s.cont = digest(f.tail), lines.cont
                    f.window = b""
                    self.pending[s.key] = s
                    continue
            if not lines.consumed:
                ended = True
                if f.final and data:
                    got = self.ship_unfinished(f, data, tail0, keep_window, emit) or got
                break  # a partial last line: it waits (and survives a restart)
            if lines.cuts:
                self.events.lines_cut(lines.cuts)
            base = s.offset
            recs, offs = lines.records, lines.offsets
            # (Not with cut pieces in the read: their count went to events.lines_cut once already.)
            more = read_len >= self.read_size and lines.flags is None
            for i in range(0, len(recs), self.batch_lines):
                if stop.is_set():
                    # (A stop with an output down gives every put up: the rest of a 1 MiB read, parsed batch by
                    # batch for nothing, held the source past the stop's wait, so its read position went unsaved
                    # and the next start named its read-and-undelivered lines as an unknown number of bytes.)
                    break
                j = min(i + self.batch_lines, len(recs))
                if more and i and j - i < self.batch_lines:
                    # The short rest of a full read is read again at the start of the next one:
                    # a backlog goes out in whole batches (a 1,000 + 310 split per MiB halves
                    # the records per batch of every second one, and every batch has a fixed cost).
                    break
                end = offs[j] if j < len(recs) else base + lines.consumed
                rel = end - base
                tail = _bytes_before(tail0, data, rel)
                if keep_window:
                    # Remembers the line ends it passes (a copy may end at one; the last few suffice).
                    between = []
                    for o in offs[max(i + 1, j - EARLIER_MARKS // 2):j]:
                        r = o - base
                        if o > s.head_len:
                            between.append([o, digest(_bytes_before(tail0, data, r))])
                    s.advance(end, digest(tail), between)
                    if end >= s.next_spaced():
                        s.space(_spaced(s, offs, i, j, end, base, tail0, data))
                else:
                    s.offset, s.mark = end, digest(tail)
                s.cont = lines.cont if j == len(recs) else bool(lines.flags and lines.flags[j])
                f.tail = tail
                keys = LineKeys(s.fid, offs[i:j])
                flags = lines.flags[i:j] if lines.flags else None
                s.size = max(s.size, end)
                s.ahead = []  # (read: the bytes before the offset prove it from now on)
                ckpt = {s.key: s.to_json()}
                if self.pending:
                    # What waits (the placeholder this state replaced) goes with these lines: flushed
                    # only after a long read, a kill -9 meanwhile kept a stale placeholder, later
                    # called lost (tests/tail/test_attack3_kill9_compress_false_loss.py).
                    ckpt = {**self.pending.take(), **ckpt}
                emit(Chunk(recs[i:j], keys, flags, ckpt, end - (offs[i]), f.path))
                got = True
            if keep_window:
                # (The window ended at `base`; it now ends at the new offset.)
                # (Its last WINDOW bytes cut from `data` itself: a copy of the whole read first cost a MiB's memcpy.)
                done = s.offset - base
                f.window = data[done - WINDOW : done] if done >= WINDOW else (f.window + data[:done])[-WINDOW:]
            if read_len < self.read_size:
                break
        if s.offset and s.ahead:
            s.ahead = []  # (only holes read: saved with them)
        size = end_seen
        if f.gz:
            try:
                size = fh.size()
            except OSError:
                size = f.size
            self.gz_cut(f, fh)
        if got or size != f.size:
            f.active_at = clock.monotonic()
        f.size = size
        if f.gz and not fh.cut and not stop.is_set():
            # Read to the end of its stream: what it decompresses to is its size. (Its state was given
            # the compressed size when found: a small .gz is larger than its content, and the
            # difference was called unread, a false loss, when it went.)
            s.size = max(s.offset, f.size)
        else:
            s.size = max(s.size, f.size)
        f.at_eof = ended or s.offset >= f.size
        if ended:
            f.read_to = pre
        if s.offset >= pre and not stop.is_set():
            f.looked_at, f.looked_mtime_ns = started, pre_mtime_ns  # (all it held when this read began was read)
            f.looked_ctime_ns = pre_ctime_ns
        self.mark_done(f)
        if holes:
            self.ledger.holes(f.path, holes)
        if f.copied_to is not None and (got or holes):
            self.cut_after_copy(f, holes)
        elif holes and holes[0][0] == 0 and not f.cut_seen and _run_from_zero(holes) == f.hole_of:
            f.cut_seen = True  # (a later copy whose hole stands for the copy before it: Followed.hole_of)
        elif holes and holes[0][0] == 0 and not f.cut_seen:
            # A file that starts with a hole was truncated under a writer that does not append
            # before we read it: the bytes the hole replaced were never read.
            f.cut_seen = True
            self.ledger.lost(f.path, 0, f"were in it before the {holes[0][1]} zero bytes at its start: it was truncated "
                                        "under a writer that does not append (copytruncate) before they were read; a "
                                        "copy, if one was made and is still there, is read as a new file", unknown=True)
        return got

    def overwritten_under(self, f: Identified, fh: OpenFile, size: int) -> bool:
        """Were the bytes just before the read offset of `f`, a backup (under a rotated name, or deleted), overwritten
        in place, its size (`size`, taken before the read) the same as at the last read (logrotate `shred` of a backup
        being caught up: random bytes written over it from its start, pass after pass, then `shred -u`)? Looked at
        after each read (and by a scan that finds it closed and changed: Prospector._overwritten): as long as those
        bytes are still the ones read, no pass has reached the read offset, so the bytes just read are the file's own
        (shred writes from the start on). Overwritten, what lies past the offset is no line: named lost, and the
        reader moves to the file's end, nothing of it shipped. (Read as lines, ~4,000 records of random bytes were
        shipped as events: tests/tail/test_attack27_shredded_backup_read_as_records.py, exam27a.) Not a live file
        (an editor writes one back in place: truncation.py), nor a compressed one (its stream tells), nor one whose
        size moved since the last read (a cut or an edit: the prospector decides). A backup read to its end and then
        shredded is no loss (said at info)."""
        s = f.state
        if (f.gz or not f.tail or (f.path == f.family and not f.deleted) or size != f.size or s.offset > size
                or fh.read(s.offset - len(f.tail), len(f.tail)) == f.tail):
            return False
        if size > s.offset:
            self.ledger.lost(f.path, size - s.offset, f"were overwritten in place before they were read (the bytes "
                                                      f"before the read offset {s.offset} changed, the size did not: "
                                                      "`shred`, as logrotate's `shred` runs it on a backup, or a tool "
                                                      "writing over the file); nothing of them is shipped (keep more "
                                                      "backups, `rotate`, so that none is shredded before it is read)")
        else:  # (read to its end: nothing lost. Taken for a file truncated and written again, it was read from 0.)
            self.log.info(f"{f.path} was overwritten in place after it was read to its end (`shred`?): nothing of it "
                          "is read again", extra={"path": f.path, "size": size})
        f.tail = fh.read(max(0, size - MARK_MAX), min(size, MARK_MAX))
        s.offset, s.mark, s.cont, s.size = size, digest(f.tail), False, max(s.size, size)
        f.window, f.overwritten = b"", True
        self.pending[s.key] = s
        return True

    def cut_after_copy(self, f: Followed, holes: list[tuple[int, int]]) -> None:
        """`f`, first read since its last content was found in a copy (a restart after copytruncate,
        Followed.copied_to), or found empty then (Prospector._follow_new): was anything written between
        the copy and the truncation? A writer without O_APPEND went on where the file ended when it was
        cut, so a hole as long as the copy says no (called lost whole, it was a false loss after
        each reload: attack 6); a longer one, a shorter one (left by a later cut: a cut leaves a hole as long
        as the file was, never shorter than a copy made of it before; taken for "no", the first of two
        copytruncates lost its window's lines unsaid, torture seed 500289) or none to tell by, maybe: the
        copytruncate window, warned and counted as when the agent runs through the rotation."""
        copy, copied = f.copied_to or ("", 0)
        f.copied_to, f.cut_seen = None, True
        if holes and holes[0][0] == 0 and _run_from_zero(holes) == copied:
            return
        self.ledger.lost(f.path, 0, f"were written between the copy to {copy} and the truncation (copytruncate "
                                    "rotation loses what is written in that window; rotate with `create` to lose "
                                    "nothing)", unknown=True)

    def mark_done(self, f: Followed) -> None:
        """A deleted (or moved away) file still followed, read to its end: saved as gone now, so
        that a stop before it is let go does not make the restart take it for the live file gone
        unread (its name may still be the live one: renamed and deleted between two looks)."""
        if f.state is not None and not f.state.gone and (f.deleted or f.unnamed) and f.at_eof:
            f.state.gone = clock.wall()
            if f.zeros:
                # Zeros to its end (a mapped file): no data; the restart owes nothing after its
                # offset. (Bytes after the offset otherwise are an unfinished last line, which a
                # restart that cannot find the file names lost: gone.unshipped_gone.)
                f.state.size = f.state.offset
            self.pending[f.state.key] = f.state

    def gz_cut(self, f: Followed, fh: OpenFile) -> None:
        """A compressed file whose stream ends early: what decompresses was read; once it has not
        changed for UNDECIDED_SECONDS (no gzip still writing it), the rest is a loss naming it."""
        if f.gz_cut_told:
            return
        if not fh.cut:  # (the last read met the end of its data, or its stream's end)
            f.gz_cut = None
            return
        try:
            size = fh.stat().st_size
        except OSError:
            return
        now = clock.monotonic()
        if f.gz_cut is None or f.gz_cut[0] != size:
            f.gz_cut = (size, now)
        elif now - f.gz_cut[1] >= UNDECIDED_SECONDS:
            f.gz_cut_told = True
            self.ledger.lost(f.path, 0, f"were in it after its first {f.state.offset if f.state else 0} bytes "
                                        "(decompressed; those were read): its compressed stream ends early, cut short "
                                        "(compression killed or out of disk space, or a partial copy)", unknown=True)

    def ship_unfinished(self, f: Identified, data: bytes, tail0: bytes, keep_window: bool, emit) -> bool:
        """The last bytes of a file let go (see gone.finish_unfinished), shipped as one record."""
        s = f.state
        f.final = False
        base, end = s.offset, s.offset + len(data)
        tail = _bytes_before(tail0, data, len(data))
        if keep_window:
            s.advance(end, digest(tail), [])
        else:
            s.offset, s.mark = end, digest(tail)
        flags = (TRUNCATED, UNFINISHED) if s.cont else (UNFINISHED,)
        s.cont = False
        f.tail = tail
        s.size = max(s.size, end)
        self.log.warning(f"{f.path}: its last {len(data)} bytes end without a newline and the file is gone (the "
                         f"writer stopped mid-line): shipped as they are, tagged {UNFINISHED}",
                         extra={"path": f.path, "offset": base, "bytes": len(data)})
        rec = data[:-1] if data.endswith(b"\r") else data
        emit(Chunk([rec], LineKeys(s.fid, [base]), [flags], {**self.pending.take(), s.key: s.to_json()},
                   len(data), f.path))
        return True

    @staticmethod
    def strip_holes(lines, holes: list[tuple[int, int]]) -> None:
        """Zero bytes at the start of a line are a hole, not data: stripped from the records (a
        record of nothing else is dropped), their offsets moved past them. A run of MID_LINE_HOLE zero
        bytes or more inside a line is one too: a writer cut mid-line (a crash leaves its unwritten blocks
        as zeros) and started again after them. The bytes before it go as a line of their own, tagged
        UNFINISHED, and the line after it starts clean (it went glued to them, zeros and all, as one
        parse failure: exam21, session 20)."""
        recs: list[bytes] = []
        offs: list[int] = []
        flags: list[tuple[str, ...]] = []
        for i, r in enumerate(lines.records):
            at = lines.offsets[i]
            flag = lines.flags[i] if lines.flags is not None else ()
            while True:
                n = len(r) - len(r.lstrip(b"\0"))
                if n:
                    holes.append((at, n + (n == len(r))))  # an all-zero record: its newline too
                    if n == len(r):
                        break
                    r, at = r[n:], at + n
                cut = r.find(_ZERO_RUN)
                if cut < 0:
                    recs.append(r)
                    offs.append(at)
                    flags.append(flag)
                    break
                recs.append(r[:cut])
                offs.append(at)
                flags.append((*flag, UNFINISHED))
                r, at, flag = r[cut:], at + cut, ()
        lines.records, lines.offsets = recs, offs
        lines.flags = flags if any(flags) else None


MID_LINE_HOLE = 16  # zero bytes in a row inside a line that make a hole (UTF-16/32 text has at most 10 in a row)
_ZERO_RUN = b"\0" * MID_LINE_HOLE


def _run_from_zero(holes: list[tuple[int, int]]) -> int:
    """How long the run of zero bytes at a file's start is (its holes, skipped in pieces, in order)."""
    end = 0
    for at, n in holes:
        if at != end:
            break
        end = at + n
    return end


def _spaced(s: FileState, offs: Sequence[int], i: int, j: int, end: int, base: int, tail0: bytes,
            data: bytes) -> list:
    """[offset, mark] of the line ends of the batch offs[i:j] (ending at `end`) at doubling offsets past the
    last spaced mark of `s` (FileState.spaced): each the first line end at or past twice the one before."""
    out: list = []
    at = s.next_spaced()
    while at <= end:
        k = bisect.bisect_left(offs, at, i + 1, j)
        o = offs[k] if k < j else end
        out.append([o, digest(_bytes_before(tail0, data, o - base))])
        at = 2 * o
    return out


def _bytes_before(tail0: bytes, data: bytes, rel: int) -> bytes:
    """The MARK_MAX bytes of the file before data[rel], `tail0` being those before data[0]."""
    return data[rel - MARK_MAX : rel] if rel >= MARK_MAX else (tail0 + data[:rel])[-MARK_MAX:]
