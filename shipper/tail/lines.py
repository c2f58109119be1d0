"""Cutting a buffer into complete lines: only whole lines leave, a partial last line waits,
and a line longer than the limit is cut into pieces that are flagged, never dropped."""
from __future__ import annotations

from dataclasses import dataclass, field
from io import BytesIO
from itertools import accumulate, repeat

TRUNCATED = "_line_truncated"
# A line with no end: a file's last bytes, no newline after them, shipped when it was let go; or the bytes before a
# run of zero bytes inside a line (the writer cut off there, Harvester.strip_holes)
UNFINISHED = "_line_unfinished"


@dataclass
class Lines:
    records: list[bytes] = field(default_factory=list)
    offsets: list[int] = field(default_factory=list)  # where each record starts in the file
    flags: list[tuple[str, ...]] | None = None  # per record, only when a piece was cut
    consumed: int = 0  # bytes of the buffer used up (ends after a newline or a cut piece)
    cont: bool = False  # the last record was a cut piece: the line goes on in the next buffer
    cuts: int = 0  # pieces cut at the limit


def split_lines(data: bytes, base: int, max_line: int, cont: bool) -> Lines:
    """Lines of `data` (which starts at file offset `base`). `cont` says `data` starts inside a
    line whose earlier pieces were cut."""
    out = Lines()
    if not cont:
        # Fast path: the lines found in C by memchr (BytesIO reads `data` in place, no copy of it), each then cut
        # from its "\n". bytes.split(b"\n") compares byte by byte: ~2,800 instructions a 275-byte Datameer line
        # against ~1,650 this way, ~6,700 against ~2,700 for an 800-byte Databricks one (bench/README.md, session 30).
        lines = BytesIO(data).readlines()
        rest = len(lines.pop()) if lines and lines[-1][-1:] != b"\n" else 0  # a partial last line waits
        if lines and max(map(len, lines)) <= max_line + 1 and rest <= max_line:
            # Where each starts: `base` plus the lengths of the lines before it, "\n" included, summed in C
            # (a loop over the lines took ~1,800 instructions a line, this ~650: bench/README.md, session 27)
            offsets = list(accumulate(map(len, lines), initial=base))
            end = offsets.pop() - base  # (where the next read starts)
            parts = list(map(bytes.rstrip, lines, repeat(b"\n")))  # (each holds one "\n", its last byte)
            if data.find(b"\r", 0, end) >= 0:
                parts = [p[:-1] if p.endswith(b"\r") else p for p in parts]
            out.records, out.offsets, out.consumed = parts, offsets, end
            return out
    flags: list[tuple[str, ...]] = []
    pos, n = 0, len(data)
    while pos < n:
        # The limit counts the line without its line end: a CRLF line may reach max_line + 2.
        nl = data.find(b"\n", pos, pos + max_line + 2)
        if nl == pos + max_line + 1 and data[nl - 1] != 0x0D:
            nl = -1  # max_line + 1 bytes before a bare "\n": over the limit
        if nl < 0:
            if n - pos <= max_line or (n - pos == max_line + 1 and data[pos + max_line] == 0x0D):
                break  # partial line (or one that may end right at the limit): waits for more
            cut = _char_boundary(data, pos, max_line)
            out.records.append(data[pos : pos + cut])
            out.offsets.append(base + pos)
            flags.append((TRUNCATED,))
            out.cuts += 1
            pos += cut
            cont = True
            continue
        rec = data[pos:nl]
        if rec.endswith(b"\r"):
            rec = rec[:-1]
        out.records.append(rec)
        out.offsets.append(base + pos)
        flags.append((TRUNCATED,) if cont else ())
        cont = False
        pos = nl + 1
    out.consumed = pos
    out.cont = cont
    if any(flags):
        out.flags = flags
    return out


def _char_boundary(data: bytes, pos: int, max_line: int) -> int:
    """Where to cut a line over the limit: at max_line, or up to 3 bytes earlier when that falls
    inside a UTF-8 character, so that each piece decodes whole and the pieces add up to the line.
    (Bytes that are no UTF-8 are cut at the limit: there is no character to keep whole.)"""
    for back in range(4):
        b = data[pos + max_line - back]
        if b & 0xC0 != 0x80:  # not a continuation byte: a character starts here
            return max_line - back if back < max_line and b >= 0xC0 or back == 0 else max_line
    return max_line
