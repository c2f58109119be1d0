"""A file put at a live name in place of the one the agent was reading, and holding what was read
of it but for an edit (`sed -i`, an editor that saves by writing a new file and renaming it over
the old): where in it what was read ends, and what the edit changed.

The agent still holds the replaced file open (deleted; its writer may go on appending to it), so
the two can be compared byte for byte. The proof is the one a copy needs (identity.py): the same
head, and the bytes just before the read offset (MARK_MAX of them) found once in the new file —
here wherever the edit shifted them. A file sharing only a header, or one whose end of what was
read cannot be placed for sure, is no edited copy."""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Protocol

from shipper.tail.identity import MARK_MAX, digest
from shipper.tail.reader import OpenFile
from shipper.tail.state import FileState

CHUNK = 64 * 1024
DIFF_MAX = 1 << 20  # changed bytes classified line by line (removed, altered, added) up to this much
# A file edited where nothing of what was read is kept to compare (after a restart; further back than the
# window) is searched this far for where what was read ends (a hash a line: ~1 s a 100 MB of short lines).
FIND_MAX = 256 << 20


class Readable(Protocol):
    def read(self, offset: int, n: int) -> bytes: ...


class Remembered:
    """What was read of a file since written back into in place (truncated and rewritten: an editor's
    `backupcopy=yes`): the bytes kept in memory from `first` on (the window, up to the read offset),
    and before them the file's own, which the caller proved unchanged."""

    def __init__(self, fh: OpenFile, window: bytes, first: int):
        self.fh, self.window, self.first = fh, window, first

    def read(self, offset: int, n: int) -> bytes:
        out = b""
        if offset < self.first:
            k = min(n, self.first - offset)
            out = self.fh.read(offset, k)
            if len(out) < k:
                return out
            offset, n = offset + k, n - k
        i = offset - self.first
        return out + self.window[i : i + max(0, n)]


def marked_ends(f: Readable, size: int, mark: str, limit: int = FIND_MAX) -> list[int]:
    """The line ends (offsets just after a newline) in f's first `limit` bytes whose MARK_MAX bytes before them
    hash to `mark` (identity.digest): where what was read may end in a file edited since, when all that is left
    of what was read is its checkpoint's hash of the bytes before the read offset. Read once from its start to
    its end, never back (a compressed file is decompressed once: a read back restarts its stream)."""
    out: list[int] = []
    end = min(size, limit)
    at = 0  # the next byte read
    carry = b""  # the (up to) MARK_MAX bytes before `at`
    while at < end:
        data = f.read(at, min(16 * CHUNK, end - at))
        if not data:
            break
        buf, base = carry + data, at - len(carry)
        i = buf.find(b"\n", max(len(carry), MARK_MAX - 1))  # (the line ends in `data` with MARK_MAX bytes before them)
        while i >= 0:
            if digest(buf[i + 1 - MARK_MAX : i + 1]) == mark:
                out.append(base + i + 1)
            i = buf.find(b"\n", i + 1)
        carry, at = buf[-MARK_MAX:], at + len(data)
    return out


def place_by_mark(f: Readable, size: int, read_to: int, mark: str, head_ok: bool, block: int = 0) -> int | None:
    """Where in `f`, its bytes before read_to changed since it was read up to there (edited in place), what was read
    ends now: the one line end where the hash of the MARK_MAX bytes before read_to (`mark`) is found. That is the
    proof a copy needs (identity.py): with the head it was identified by (`head_ok`), anywhere in it; with its head
    gone (`fallocate --collapse-range` cut its first blocks), only at a shift by whole blocks of `block` bytes
    towards its start. None when not proven: not found, found twice (a repeated block of lines: nothing tells which),
    or where it was (nothing moved)."""
    if read_to < MARK_MAX or not (head_ok or block > 0):
        return None
    found = marked_ends(f, size, mark)
    if len(found) != 1 or found[0] == read_to:
        return None
    at = found[0]
    if not head_ok and (at > read_to or (read_to - at) % block):
        return None
    return at


def proven_prefix(f: Readable, size: int, marks: list, head_len: int) -> int:
    """How far `f` still holds what was read, by the [offset, mark] of line ends read (FileState.earlier): the
    furthest one past the head found at its own offset, 0 when none is. Zero bytes prove nothing: the end of a
    hole skipped (a writer without O_APPEND after a copytruncate) is zeros in every later content of that file,
    each cut deeper into its own hole (taken for the old content edited, the next copytruncate's content was
    said "re-read … shipped again", nothing repeated: tests/tail/test_attack25_hole_headed_copytruncate_false_reread.py)."""
    for at, mark in sorted(marks, reverse=True):
        n = min(MARK_MAX, at)
        if head_len < at <= size and (before := f.read(at - n, n)).strip(b"\0") and digest(before) == mark:
            return at
    return 0


def reread_edited(f: Readable, size: int, s: FileState, by_ahead: bool = True) -> tuple[int, int] | None:
    """The content `s`, saved at a stop with an output down at the position it was found at (s.offset: read again
    from there) though that run had read it further (s.reread_to), met at a restart in `f`, the same head checked by
    the caller: was it edited while the agent was stopped before the end of what was read? Then the lines that
    outputs stored before the stop are at other positions, which their note (by event ids: positions) cannot follow:
    (where to read again from in `f`, how many bytes of it were read before) when it is proven this content (the
    hash of the bytes before that end found at one line end, or those before the line end seen when it was
    identified found at their own place, unless not `by_ahead`: a file shorter than what was read holds that line end
    as a copy made before the read got there does); None when it still holds them where they were (nothing to tell),
    or when it is not proven to be this content."""
    if not s.reread_to or s.reread_to[0] <= max(s.offset, s.head_len):
        return None
    to, mark = s.reread_to
    n = min(MARK_MAX, to)
    before = f.read(to - n, n)
    if len(before) == n and digest(before) == mark:
        return None  # (where it was)
    end = place_by_mark(f, size, to, mark, True)
    if end is None and not (by_ahead and s.ahead and proven_prefix(f, size, [s.ahead], s.head_len)):
        return None
    start = s.offset
    if start > s.head_len and digest(f.read(start - min(MARK_MAX, start), min(MARK_MAX, start))) != s.mark:
        placed = place_by_mark(f, size, start, s.mark, True)
        if placed is None:
            return None
        start = placed
    return start, (end if end is not None else min(size, to)) - start


@dataclass
class Edit:
    resume: int  # where in the new file what was read ends: read on from there
    start: int  # the changed part: from here (a line start, the same in both files) …
    old_end: int  # … to here in the file read,
    new_end: int  # … and to here in the new file
    removed: int  # lines of what was read gone from the new file
    altered: int  # lines of what was read changed in it
    added: int  # lines in it that were not in what was read

    def says(self) -> str:
        parts = [f"{n} line(s) {what}" for n, what in
                 ((self.removed, "removed"), (self.altered, "altered"), (self.added, "added")) if n]
        return ", ".join(parts) or "nothing changed"


def common_prefix(a: Readable, b: Readable, n: int, a_at: int = 0, b_at: int = 0) -> int:
    """How many of their first n bytes (from a_at in `a`, b_at in `b`) two files share."""
    at = 0
    while at < n:
        x, y = a.read(a_at + at, min(CHUNK, n - at)), b.read(b_at + at, min(CHUNK, n - at))
        if x != y or not x:
            k = 0
            while k < min(len(x), len(y)) and x[k] == y[k]:
                k += 1
            return at + k
        at += len(x)
    return n


def common_suffix(a: Readable, a_end: int, b: Readable, b_end: int, limit: int) -> int:
    """How many bytes before a_end in `a` equal those before b_end in `b` (at most `limit`)."""
    n = 0
    while n < limit:
        k = min(CHUNK, limit - n)
        x, y = a.read(a_end - n - k, k), b.read(b_end - n - k, k)
        if x != y:
            i = 0
            while i < min(len(x), len(y)) and x[-1 - i] == y[-1 - i]:
                i += 1
            return n + i
        n += k
    return limit


def common_suffix_forward(a: Readable, a_end: int, b: Readable, b_end: int, limit: int) -> int:
    """common_suffix, reading both files forward only (a compressed file restarts its stream at every read back: read
    back a chunk at a time, an edit far from the end decompressed the file once a chunk): the `limit` bytes before
    the ends compared front to back, the common suffix being what follows the last byte that differs."""
    a0, b0 = a_end - limit, b_end - limit
    last = -1  # the last compared position that differs
    at = 0
    while at < limit:
        k = min(CHUNK, limit - at)
        x, y = a.read(a0 + at, k), b.read(b0 + at, k)
        if x != y:
            i = k - 1
            if len(x) == k and len(y) == k:
                while x[i] == y[i]:
                    i -= 1
            last = at + i
        at += k
    return limit - 1 - last


def find_all(f: Readable, needle: bytes, lo: int, hi: int) -> list[int]:
    """The end offsets of every occurrence of `needle` in f's bytes lo..hi. Read forward only, the bytes before each
    read kept (a read back restarts a compressed file's stream: overlapping reads decompressed it once a chunk)."""
    out: list[int] = []
    at = lo
    carry = b""  # the last len(needle) - 1 bytes before `at`: an occurrence across two reads
    while at < hi:
        chunk = f.read(at, min(CHUNK, hi - at))
        if not chunk:
            break
        buf, base = carry + chunk, at - len(carry)
        i = buf.find(needle)
        while i >= 0:
            out.append(base + i + len(needle))
            i = buf.find(needle, i + 1)
        carry = buf[-(len(needle) - 1):] if len(needle) > 1 else b""
        at += len(chunk)
    return out


def edited_copy(old: Readable, read_to: int, head_len: int, new: Readable, new_size: int,
                forward: bool = False) -> Edit | None:
    """Is `new` the file `old` (read up to read_to) edited? Its Edit if so, else None. `forward`: `new` is
    compressed and read forward only: at most five reads go back (each decompresses it again from its start:
    the search for where what was read ends, the alignment of the lines near it (twice), the common end, the changed
    lines), whatever its size; never a chunk at a time backwards."""
    if read_to <= head_len or read_to < MARK_MAX or new_size < head_len:
        return None
    start = common_prefix(old, new, min(read_to, new_size))
    if start < head_len:
        return None  # (not even the head: another file)
    if start == read_to:
        return Edit(read_to, read_to, read_to, read_to, 0, 0, 0)  # (all of it unchanged: a plain copy)
    # Where the end of what was read is in the new file: where the mark is, when it is there once. (Twice,
    # a repeated block of lines, nothing tells which: not proven.)
    found = find_all(new, old.read(read_to - MARK_MAX, MARK_MAX), 0, new_size)
    if not found:  # (the edit is within those bytes)
        found = [x for x in [aligned_end(old, start, read_to, new, new_size)] if x is not None]
    if len(found) != 1 or found[0] <= start:
        return None  # (or there only within the unchanged start: the end of what was read is not in it)
    best = found[0]
    # The changed part: between the common start and the common end, in whole lines.
    suffix = common_suffix_forward if forward else common_suffix
    same_end = suffix(old, read_to, new, best, min(read_to, best) - min(start, read_to, best))
    back_to = start - min(start, CHUNK)
    first = old.read(back_to, start - back_to).rfind(b"\n")
    a = back_to + first + 1 if first >= 0 else back_to  # (the start of the line it differs in)
    old_b, new_b = read_to - same_end, best - same_end
    if same_end:
        tail = old.read(old_b, min(same_end, CHUNK))
        nl = tail.find(b"\n")
        if nl >= 0 and old_b > a:
            old_b, new_b = old_b + nl + 1, new_b + nl + 1
    old_part, new_part = b"", b""
    if old_b - a <= DIFF_MAX and new_b - a <= DIFF_MAX:
        old_part, new_part = old.read(a, old_b - a), new.read(a, new_b - a)
        removed = altered = added = 0
        ops = difflib.SequenceMatcher(None, old_part.splitlines(), new_part.splitlines(), autojunk=False)
        for tag, i1, i2, j1, j2 in ops.get_opcodes():
            if tag == "delete":
                removed += i2 - i1
            elif tag == "insert":
                added += j2 - j1
            elif tag == "replace":
                altered += min(i2 - i1, j2 - j1)
                removed += max(0, (i2 - i1) - (j2 - j1))
                added += max(0, (j2 - j1) - (i2 - i1))
    else:  # too much changed to classify line by line: counted as removed and added
        removed = altered = added = 0
        at = a
        while at < old_b:
            removed += old.read(at, min(CHUNK, old_b - at)).count(b"\n")
            at += CHUNK
        at = a
        while at < new_b:
            added += new.read(at, min(CHUNK, new_b - at)).count(b"\n")
            at += CHUNK
    return Edit(best, a, old_b, new_b, removed, altered, added)


def aligned_end(old: Readable, start: int, read_to: int, new: Readable, new_size: int) -> int | None:
    """Where what was read of `old` (up to read_to) ends in `new`, the two the same up to `start`, when the edit is
    within the last MARK_MAX bytes read (their hash is nowhere in `new`): the lines of both from the line `start` is
    in are aligned (difflib); the last run of lines the two share must end with the last line read, be found once in
    `new` past that line, have no more lines before it in `new` than in what was read (an edit that removes or alters
    lines), and its last line must be found once in what was read (the lines read after the edit, then what was
    written after them).
    None when not so (the last line read removed or altered, lines inserted, lines repeated, or more than DIFF_MAX
    bytes to align): then nothing is claimed."""
    back = max(0, start - CHUNK)
    a = back + old.read(back, start - back).rfind(b"\n") + 1
    if read_to - a > DIFF_MAX:
        return None
    olds = old.read(a, read_to - a).splitlines(keepends=True)
    if not olds or not olds[-1].endswith(b"\n"):
        return None
    news = new.read(a, min(new_size - a, DIFF_MAX)).splitlines(keepends=True)
    if news and not news[-1].endswith(b"\n"):
        news.pop()  # (a line not ended yet proves nothing)
    blocks = [m for m in difflib.SequenceMatcher(None, olds, news, autojunk=False).get_matching_blocks() if m.size]
    if not blocks or blocks[-1].a + blocks[-1].size != len(olds):
        return None
    last = blocks[-1]
    if last.b > last.a:
        # More lines in the new file before the run than were read there: lines inserted before the last ones read,
        # or those lines removed or altered and written again after lines appended since (a heartbeat, a stack
        # frame, any line a writer repeats): the same bytes. Placed after the run, the lines appended before it
        # were skipped, unnamed; not placed, the file is read from its start with the repeat named.
        return None
    run = b"".join(olds[last.a:])
    # The run found once in the new file, and its last line, the last line read, once in what was read (up to FIND_MAX
    # back): a line the log repeats, removed or altered and written again since, is no proof either (found once in
    # the last CHUNK bytes read was not enough: a heartbeat a minute apart is).
    if len(find_all(new, run, a, new_size)) != 1 or len(find_all(old, olds[-1], max(0, read_to - FIND_MAX),
                                                                read_to)) != 1:
        return None
    return a + sum(len(x) for x in news[: last.b + last.size])


def past_old(old: Readable, old_from: int, old_size: int, new: Readable, new_from: int, new_size: int) -> tuple[int, bool]:
    """The old file (deleted, held open) is read on to its end from old_from; the new file that replaced it holds,
    from new_from, its copy of those bytes as they were when it was made (`sed -i` copies what was not read yet too),
    edited or not, and after it what a writer appended to it by name since. Where in `new` that copy ends, to read on
    from there without shipping its lines twice, and whether that is proven:
    - as far as both hold the same bytes, when one of them ends there (what follows in the new file is new);
    - else the new file's end, when its last MARK_MAX bytes (ending a line) are found once in the old file past
      old_from: all of it is a copy of the old file's bytes;
    - else, from the line where they differ on, the lines of both are aligned (difflib, up to DIFF_MAX bytes each):
      the copy ends after the last run of lines the new file holds once and the old one once past that line (what
      lies before it in the new file is the edit's: not shipped). What follows is read as it is; proven when none of
      its lines is one the old file holds there, and the old file holds no line after that run that the new file's
      lines could be an edited copy of (an edit of the last lines copied cannot be told from lines a writer appended
      to the new file then: not proven, that repeat cannot be ruled out).
    Not proven, the offset returned is the end of what is proven a copy, at a line end."""
    n = common_prefix(old, new, max(0, min(old_size - old_from, new_size - new_from)), old_from, new_from)
    at = new_from + n
    if at >= new_size or old_from + n >= old_size:
        return at, True  # (the new file's copy of the old file's bytes ends here; what follows is new)
    tail = new.read(new_size - MARK_MAX, MARK_MAX) if new_size - new_from >= MARK_MAX else b""
    if tail.endswith(b"\n") and len(find_all(old, tail, old_from, old_size)) == 1:
        return new_size, True
    back = max(new_from, at - CHUNK)
    nl = new.read(back, at - back).rfind(b"\n")
    b = back + nl + 1 if nl >= 0 else new_from  # the line they differ in, in the new file …
    a = old_from + (b - new_from)  # … and in the old one
    if old_size - a > DIFF_MAX or new_size - b > DIFF_MAX:
        return b, False
    olds = old.read(a, old_size - a).splitlines(keepends=True)
    if olds and not olds[-1].endswith(b"\n"):
        olds.pop()  # (a line the writer has not ended yet: no copy of it is proven by it)
    news = new.read(b, new_size - b).splitlines(keepends=True)
    whole = news[:-1] if news and not news[-1].endswith(b"\n") else news
    blocks = [m for m in difflib.SequenceMatcher(None, olds, whole, autojunk=False).get_matching_blocks() if m.size]
    i_end = j_end = 0
    if blocks:
        last = blocks[-1]
        run = b"".join(whole[last.b : last.b + last.size])
        if (run.strip() and len(find_all(old, run, a, old_size)) == 1
                and len(find_all(new, run, b, new_size)) == 1):
            i_end, j_end = last.a + last.size, last.b + last.size
    p = b + sum(len(x) for x in news[:j_end])
    rest = news[j_end:]
    if not rest:
        return p, True
    if set(x for x in rest if x.endswith(b"\n")) & set(olds) or olds[i_end:]:
        return p, False
    return p, True
