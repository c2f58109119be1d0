"""Cutting a buffer into complete lines: only whole lines leave, a partial last line waits,
and a line longer than the limit is cut into pieces that are flagged, never dropped."""
from __future__ import annotations

from dataclasses import dataclass, field

TRUNCATED = "_line_truncated"


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
    end = data.rfind(b"\n") + 1
    if not cont and end:
        # Fast path: split() in C, then one check that no line is over the limit.
        chunk = data[:end]
        parts = chunk.split(b"\n")
        parts.pop()
        if max(map(len, parts)) <= max_line and len(data) - end <= max_line:
            offsets = []
            pos = base
            for p in parts:
                offsets.append(pos)
                pos += len(p) + 1
            if b"\r" in chunk:
                parts = [p[:-1] if p.endswith(b"\r") else p for p in parts]
            out.records, out.offsets, out.consumed = parts, offsets, end
            return out
    flags: list[tuple[str, ...]] = []
    pos, n = 0, len(data)
    while pos < n:
        nl = data.find(b"\n", pos, pos + max_line + 1)
        if nl < 0:
            if n - pos <= max_line:
                break  # partial line (or one that may end right at the limit): waits for more
            out.records.append(data[pos : pos + max_line])
            out.offsets.append(base + pos)
            flags.append((TRUNCATED,))
            out.cuts += 1
            pos += max_line
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
