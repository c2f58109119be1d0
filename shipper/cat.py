"""`shipper cat`'s reading: records of a file or stdin, bounded like the file source's (a line longer
than max_line_bytes is cut into pieces flagged _line_truncated, never held whole), in batches bounded
by count and by bytes. A record with bytes that are not UTF-8 is flagged _invalid_encoding, as the file
source (with its default encoding, utf-8) flags it."""
from __future__ import annotations

from typing import BinaryIO, Iterator

from shipper.ecs import INVALID_ENCODING, is_utf8
from shipper.tail.lines import TRUNCATED, split_lines

READ_SIZE = 1 << 20
BATCH_LINES = 1000
BATCH_BYTES = 8 << 20  # pieces of a 300 MB line must not gather into one huge batch


def read_batches(f: BinaryIO, max_line: int) -> Iterator[tuple[list[bytes], list[tuple[str, ...]] | None, int]]:
    """(records, per-record flags or None, bytes consumed) batches from f, in order."""
    buf = b""
    base = 0
    cont = False
    records: list[bytes] = []
    flags: list[tuple[str, ...]] = []
    size = used = 0

    def flush():
        nonlocal records, flags, size, used
        out = (records, flags if any(flags) else None, used)
        records, flags, size, used = [], [], 0, 0
        return out

    while True:
        data = f.read(max(READ_SIZE, max_line + 1))
        if not data:
            break
        buf += data
        lines = split_lines(buf, base, max_line, cont)
        cont = lines.cont
        for i, rec in enumerate(lines.records):
            records.append(rec)
            flags.append(_with_encoding(rec, lines.flags[i] if lines.flags else ()))
            size += len(rec)
            if len(records) >= BATCH_LINES or size >= BATCH_BYTES:
                yield flush()
        used += lines.consumed
        base += lines.consumed
        buf = buf[lines.consumed:]
    if buf:  # the last line, without its newline
        rec = buf[:-1] if buf.endswith(b"\r") else buf
        records.append(rec)
        flags.append(_with_encoding(rec, (TRUNCATED,) if cont else ()))
        used += len(buf)
    if records:
        yield flush()


def _with_encoding(rec: bytes, flags: tuple[str, ...]) -> tuple[str, ...]:
    return flags if is_utf8(rec) else (*flags, INVALID_ENCODING)


def flag_events(parsed: list[list[dict]], flags: list[tuple[str, ...]] | None) -> None:
    """Add each record's flags to the `tags` of its events (as the pipeline does for a source's)."""
    if not flags:
        return
    for evs, fl in zip(parsed, flags):
        if fl:
            for ev in evs:
                tags = ev.setdefault("tags", [])
                tags.extend(t for t in fl if t not in tags)
