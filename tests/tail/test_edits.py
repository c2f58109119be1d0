"""Properties of shipper/tail/edits.py on real files: a file edited (lines removed, altered, inserted
anywhere past its first line and before its last lines read) and written on after is told an edited copy
of what was read, the end of what was read is placed exactly, and the lines changed are counted; a file
that shares only its header, or lines repeated so that the end of what was read cannot be placed, is not."""
from __future__ import annotations

import gzip
import os

from hypothesis import given, settings, strategies as st

from shipper.tail.edits import CHUNK, edited_copy, find_all, marked_ends, past_old, place_by_mark, proven_prefix, reread_edited
from shipper.tail.identity import MARK_MAX, digest
from shipper.tail.reader import OpenFile
from shipper.tail.state import FileState

HEADER = b"# time level message (a header every file shares)\n"


def line(i: int, tag: str = "") -> bytes:
    return b'{"seq": %d, "at": "2026-12-05T17:%02d:%02d", "msg": "user%d did a thing%s"}\n' % (
        i, i // 60 % 60, i % 60, i * 7919 % 1000, tag.encode())


def opened(tmp_path, name: str, data: bytes) -> OpenFile:
    path = tmp_path / name
    path.write_bytes(data)
    return OpenFile(str(path))


@settings(max_examples=60, deadline=None)
@given(n=st.integers(20, 400), data=st.data(), appended=st.integers(0, 30))
def test_an_edited_copy_is_placed_and_its_changes_counted(tmp_path_factory, n, data, appended):
    tmp = tmp_path_factory.mktemp("edit")
    lines = [HEADER] + [line(i) for i in range(n)]
    old = b"".join(lines)
    # Edits past the header and before the last lines read (those hold the mark of the read offset).
    last = len(lines) - 1
    while sum(len(x) for x in lines[last:]) < MARK_MAX:
        last -= 1
    editable = list(range(1, last))
    chosen = data.draw(st.lists(st.sampled_from(editable), min_size=1, max_size=10, unique=True))
    kinds = data.draw(st.lists(st.sampled_from(["delete", "alter", "insert"]), min_size=len(chosen),
                               max_size=len(chosen)))
    new_lines: list[bytes] = []
    deleted = altered = inserted = 0
    for i, x in enumerate(lines):
        kind = kinds[chosen.index(i)] if i in chosen else None
        if kind == "delete":
            deleted += 1
            continue
        if kind == "alter":
            altered += 1
            new_lines.append(line(i - 1, " (scrubbed)"))
            continue
        if kind == "insert":
            inserted += 1
            new_lines.append(line(100_000 + i))
        new_lines.append(x)
    edited = b"".join(new_lines)
    later = b"".join(line(1_000_000 + i) for i in range(appended))  # a writer that reopens it writes on
    a, b = opened(tmp, "old", old), opened(tmp, "new", edited + later)
    try:
        edit = edited_copy(a, len(old), len(HEADER), b, len(edited + later))
    finally:
        a.close()
        b.close()
    assert edit is not None and edit.resume == len(edited), edit
    assert edit.removed + edit.altered == deleted + altered
    assert edit.altered + edit.added == altered + inserted
    assert edit.start >= len(HEADER) and old[:edit.start] == edited[:edit.start]
    assert old[edit.old_end:] == edited[edit.new_end:]


@settings(max_examples=60, deadline=None)
@given(n=st.integers(20, 200), data=st.data(), appended=st.integers(0, 30))
def test_an_edit_within_the_last_bytes_read_is_placed_by_the_lines_after_it(tmp_path_factory, n, data, appended):
    """The edit within the last MARK_MAX bytes read (their hash is nowhere in the new file): the lines read after it
    still place the end of what was read, exactly, whatever a writer appended since (an editor's write-back of a line
    near the end: the lines after it were read again, unnamed). The last line read itself removed or altered places
    nothing (what follows it may be lines written since)."""
    tmp = tmp_path_factory.mktemp("near")
    lines = [HEADER] + [line(i) for i in range(n)]
    old = b"".join(lines)
    first = len(lines) - 1
    while sum(len(x) for x in lines[first:]) < MARK_MAX:
        first -= 1
    at = data.draw(st.integers(max(1, first), len(lines) - 1))  # (a line within the last MARK_MAX bytes read)
    kind = data.draw(st.sampled_from(["delete", "alter", "insert"]))
    new_lines = lines[:at] + {"delete": [], "alter": [line(at, " (scrubbed)")],
                              "insert": [line(100_000 + at), lines[at]]}[kind] + lines[at + 1:]
    edited = b"".join(new_lines)
    later = b"".join(line(1_000_000 + i) for i in range(appended))
    a, b = opened(tmp, "old", old), opened(tmp, "new", edited + later)
    try:
        edit = edited_copy(a, len(old), len(HEADER), b, len(edited + later))
    finally:
        a.close()
        b.close()
    if kind == "insert" and old[-MARK_MAX:] not in edited + later:
        # (More lines than were read before the last ones read: a line the log repeats removed and written again
        # after lines appended looks the same. Not placed: test_a_repeated_last_line_written_again_places_nothing.)
        assert edit is None, edit
    elif at == len(lines) - 1:
        assert edit is None or edit.resume <= len(edited), edit  # (never past a line written since)
    else:
        assert edit is not None and edit.resume == len(edited), (kind, at, len(lines), edit)
        assert (edit.removed, edit.altered, edit.added) == {"delete": (1, 0, 0), "alter": (0, 1, 0),
                                                            "insert": (0, 0, 1)}[kind]


def test_an_edit_near_the_end_with_the_lines_after_it_repeated_is_not_placed(tmp_path):
    """The lines read after an edit near the end written again after it (a writer repeating them): which copy ends
    what was read cannot be told, so nothing is claimed."""
    lines = [HEADER] + [line(i) for i in range(50)]
    old = b"".join(lines)
    new = b"".join(lines[:-3] + lines[-2:] + lines[-2:])  # (the third last line removed; the last two written again)
    a, b = opened(tmp_path, "old", old), opened(tmp_path, "new", new)
    try:
        assert edited_copy(a, len(old), len(HEADER), b, len(new)) is None
    finally:
        a.close()
        b.close()


def test_a_repeated_last_line_written_again_places_nothing(tmp_path):
    """The last line read a heartbeat the log wrote once so far, removed by the edit (with the line before it
    altered), and the writer appends three lines and the heartbeat again: the lines after the edit (the heartbeat)
    are found once in the new file, and once in the last bytes read. Placed after that heartbeat, the three lines
    before it were skipped, unnamed (session 16: aligned_end's proof); the new file holds more lines there than
    were read, which lines inserted before the heartbeat would show too: nothing is claimed."""
    beat = b"heartbeat ok\n"
    lines = [HEADER] + [line(i) for i in range(20)] + [beat]
    old = b"".join(lines)
    new = b"".join(lines[:-2]) + line(19, " (scrubbed)") + b"".join(line(1000 + i) for i in range(3)) + beat
    a, b = opened(tmp_path, "old", old), opened(tmp_path, "new", new)
    try:
        assert edited_copy(a, len(old), len(HEADER), b, len(new)) is None
    finally:
        a.close()
        b.close()


def test_an_edit_near_the_end_before_a_line_the_log_repeats_is_not_placed(tmp_path):
    """The last line read one the log wrote before (a heartbeat): a writer may append it again after a cut, so it
    places nothing (placed, the lines appended before it would be skipped)."""
    beat = b"heartbeat ok\n"
    lines = [HEADER] + [line(i) for i in range(20)] + [beat] + [line(i) for i in range(20, 40)] + [beat]
    old = b"".join(lines)
    new = b"".join(lines[:-3]) + line(1000) + beat  # (cut before the last two lines; a line and a heartbeat written)
    a, b = opened(tmp_path, "old", old), opened(tmp_path, "new", new)
    try:
        assert edited_copy(a, len(old), len(HEADER), b, len(new)) is None
    finally:
        a.close()
        b.close()


@settings(max_examples=30, deadline=None)
@given(n=st.integers(5, 200), m=st.integers(5, 200))
def test_a_file_sharing_only_the_header_is_no_edited_copy(tmp_path_factory, n, m):
    tmp = tmp_path_factory.mktemp("other")
    old = HEADER + b"".join(line(i) for i in range(n))
    other = HEADER + b"".join(line(10_000 + i) for i in range(m))
    a, b = opened(tmp, "old", old), opened(tmp, "new", other)
    try:
        assert edited_copy(a, len(old), len(HEADER), b, len(other)) is None
    finally:
        a.close()
        b.close()


def test_the_end_of_what_was_read_found_twice_is_not_placed(tmp_path):
    """The last lines read (a stack trace) twice in the new file: where what was read ends cannot be told, so
    nothing is claimed (the caller reads it whole and warns the repeat)."""
    block = b"".join(b"\tat com.example.Thing.method%d(Thing.java:%d)\n" % (i, i) for i in range(20))
    old = HEADER + line(1) + block
    new = HEADER + block + block
    a, b = opened(tmp_path, "old", old), opened(tmp_path, "new", new)
    try:
        assert edited_copy(a, len(old), len(HEADER), b, len(new)) is None
    finally:
        a.close()
        b.close()
    assert os.path.getsize(tmp_path / "new") == len(new)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(20, 400), data=st.data(), appended=st.integers(0, 30))
def test_only_the_hash_of_the_bytes_before_the_read_offset_places_the_end_of_what_was_read(tmp_path_factory, n, data,
                                                                                          appended):
    """After a restart only hashes are left (the checkpoint's mark, and the earlier read positions'): lines removed,
    altered or inserted before the last lines read still let the mark be found at exactly one line end, where what
    was read ends; the earlier marks before the first change are found at their own offsets."""
    lines = [HEADER] + [line(i) for i in range(n)]
    old = b"".join(lines)
    last = len(lines) - 1
    while sum(len(x) for x in lines[last:]) < MARK_MAX:
        last -= 1
    at = data.draw(st.integers(1, last - 1))
    kind = data.draw(st.sampled_from(["delete", "alter", "insert"]))
    new_lines = lines[:at] + {"delete": [], "alter": [line(at, " (scrubbed)")],
                              "insert": [line(100_000 + at), lines[at]]}[kind] + lines[at + 1:]
    edited = b"".join(new_lines)
    later = b"".join(line(1_000_000 + i) for i in range(appended))
    new = opened(tmp_path_factory.mktemp("mark"), "new", edited + later)
    try:
        size = len(edited + later)
        assert place_by_mark(new, size, len(old), digest(old[-MARK_MAX:]), True) == len(edited)
        ends = [sum(len(x) for x in lines[:k]) for k in range(2, at + 1)]  # line ends before the change
        marks = [[e, digest(old[max(0, e - MARK_MAX):e])] for e in ends]
        assert proven_prefix(new, size, marks, len(HEADER)) == (ends[-1] if ends else 0)
    finally:
        new.close()


@settings(max_examples=40, deadline=None)
@given(n=st.integers(200, 600), blocks=st.integers(1, 3), appended=st.integers(0, 30))
def test_a_head_cut_by_whole_blocks_is_placed_by_the_hash_alone(tmp_path_factory, n, blocks, appended):
    """`fallocate --collapse-range` while the agent is stopped: the first blocks gone, header and all. The mark is
    found at the read offset less the bytes cut, which must be whole blocks: at any other shift it proves nothing."""
    old = HEADER + b"".join(line(i) for i in range(n))
    cut = blocks * 4096
    new = opened(tmp_path_factory.mktemp("cut"), "new", old[cut:] + b"".join(line(10**6 + i) for i in range(appended)))
    try:
        size = len(old) - cut + sum(len(line(10**6 + i)) for i in range(appended))
        mark = digest(old[-MARK_MAX:])
        assert place_by_mark(new, size, len(old), mark, False, 4096) == len(old) - cut
        assert place_by_mark(new, size, len(old), mark, False, 4096 * 4) is None  # (not a whole number of blocks)
        assert place_by_mark(new, size, len(old), mark, False, 0) is None  # (no block size, no head: no proof)
    finally:
        new.close()


def test_a_mark_found_twice_places_nothing(tmp_path):
    """The last lines read repeated further on (a block of lines written twice): nothing tells which is the end."""
    block = b"".join(line(i) for i in range(20))
    old = HEADER + block
    new = opened(tmp_path, "new", HEADER + line(999) + block + block)
    try:
        assert len(marked_ends(new, len(HEADER + line(999) + block * 2), digest(old[-MARK_MAX:]))) == 2
        assert place_by_mark(new, len(HEADER + line(999) + block * 2), len(old), digest(old[-MARK_MAX:]), True) is None
    finally:
        new.close()


@settings(max_examples=150, deadline=None)
@given(n=st.integers(5, 60), unread=st.integers(0, 60), data=st.data(), to_old=st.integers(0, 20),
       to_new=st.integers(0, 20))
def test_the_new_file_is_read_past_its_copy_of_what_the_old_one_still_delivers(tmp_path_factory, n, unread, data,
                                                                                to_old, to_new):
    """`sed -i` copies the lines not read yet too, and may remove or alter some of them; the old file (deleted, held
    open) is read on to its end, its writer perhaps appending to it after the copy (to_old), another writer perhaps
    appending to the new file by name (to_new). The new file is read on from past_old: the lines skipped there are
    all delivered by the old file, or the edit's (not shipped); when proven, none it reads on is one the old file
    delivers, nor the edit of one. Always proven when nothing was appended to the new file and the last line the
    copy kept is unaltered, or when nothing was appended to the old file and the last line copied is in the new
    file unaltered. Otherwise lines appended to the new file cannot be told from sed's edit of the old file's lines
    after the last ones both hold (the same bytes either way): a repeat that cannot be ruled out."""
    tmp = tmp_path_factory.mktemp("past")
    read = HEADER + b"".join(line(i) for i in range(n))
    copied = [line(i) for i in range(n, n + unread)]
    removed = data.draw(st.sets(st.sampled_from(range(unread)), max_size=3)) if unread else set()
    altered = data.draw(st.sets(st.sampled_from(range(unread)), max_size=3)) - removed if unread else set()
    edited = {i: line(n + i, ", scrubbed") for i in altered}
    old_rest = b"".join(copied) + b"".join(line(5000 + i) for i in range(to_old))
    new_rest = b"".join(edited.get(i, x) for i, x in enumerate(copied) if i not in removed) + b"".join(
        line(9000 + i) for i in range(to_new))
    a, b = opened(tmp, "old", read + old_rest), opened(tmp, "new", read + new_rest)
    try:
        past, proven = past_old(a, len(read), len(read + old_rest), b, len(read), len(read + new_rest))
    finally:
        a.close()
        b.close()
    assert len(read) <= past <= len(read + new_rest) and (read + new_rest)[past - 1:past] == b"\n"
    old_lines = set(old_rest.splitlines(keepends=True))
    skipped = (read + new_rest)[len(read):past].splitlines(keepends=True)
    assert all(x in old_lines or x in edited.values() for x in skipped), "a line skipped the old file does not deliver"
    if proven:
        left = (read + new_rest)[past:].splitlines(keepends=True)
        assert not [x for x in left if x in old_lines or x in edited.values()], "proven, yet a line is read twice"
    kept = [i for i in range(unread) if i not in removed]
    last_altered = bool(kept) and kept[-1] in altered
    last_copied_kept = not unread or (kept[-1:] == [unread - 1] and not last_altered)
    if not to_new and not last_altered or not to_old and last_copied_kept:
        assert proven, (past, proven)
    if not removed and not altered and not (to_old and to_new):
        assert past == len(read) + len(b"".join(copied)), past


def state_reread(old: bytes, found: int, read_to: int) -> FileState:
    """A content saved at a stop with an output down at `found` (where it was found) though read to `read_to`."""
    head = len(HEADER)
    ahead = [read_to, digest(old[read_to - MARK_MAX:read_to])]
    return FileState(fid="x", dev=0, ino=0, head_len=head, head=digest(old[:head]), offset=found,
                     mark=digest(old[max(0, found - MARK_MAX):found]) if found else "", path="p", family="p",
                     size=read_to, ahead=ahead if not found else [], reread_to=[read_to, ahead[1]])


@settings(max_examples=60, deadline=None)
@given(n=st.integers(20, 300), data=st.data(), appended=st.integers(0, 30))
def test_a_reread_content_edited_while_stopped_is_told_and_placed(tmp_path_factory, n, data, appended):
    """After a stop with an output down (the content to be read again from where it was found, though read further):
    an edit before the end of what was read is told, with where to read again from and how many bytes of the edited
    file were read before; unedited (written on after), or another file with the same header, nothing is told."""
    lines = [HEADER] + [line(i) for i in range(n)]
    old = b"".join(lines)
    last = len(lines) - 1
    while sum(len(x) for x in lines[last:]) < MARK_MAX:
        last -= 1
    at = data.draw(st.integers(2, last - 1))  # the line edited
    found = data.draw(st.sampled_from([0, len(lines[0]) + len(lines[1])]))  # (at its start, or at a line end)
    kind = data.draw(st.sampled_from(["delete", "alter", "insert"]))
    edited = b"".join(lines[:at] + {"delete": [], "alter": [line(at, " (scrubbed)")],
                                    "insert": [line(100_000 + at), lines[at]]}[kind] + lines[at + 1:])
    later = b"".join(line(1_000_000 + i) for i in range(appended))
    s = state_reread(old, found, len(old))
    tmp = tmp_path_factory.mktemp("reread")
    with_edit, unedited = opened(tmp, "edited", edited + later), opened(tmp, "same", old + later)
    other = opened(tmp, "other", HEADER + b"".join(line(10**6 + i) for i in range(n)))
    try:
        assert reread_edited(with_edit, len(edited + later), s) == (found, len(edited) - found)
        assert reread_edited(unedited, len(old + later), s) is None
        assert reread_edited(other, len(HEADER) + sum(len(line(10**6 + i)) for i in range(n)), s) is None
    finally:
        for f in (with_edit, unedited, other):
            f.close()


@settings(max_examples=40, deadline=None)
@given(n=st.integers(20, 300), data=st.data())
def test_a_shorter_reread_content_is_edited_only_where_the_end_of_what_was_read_is_found(tmp_path_factory, n, data):
    """A file shorter than what a stop with an output down left to be read again (a rotated backup: Matcher.reread_moved
    with `shorter`): a copy made before the read got there holds the line end seen when the content was identified
    (s.ahead) as the content does, so without `by_ahead` it is told nothing; the content less a line (`sed -i`, then
    rotated) is told edited all the same, by the end of what was read found one line earlier (attack 13: taken for a
    copy, it was read on under the content's file id, the edit never named)."""
    lines = [HEADER] + [line(i) for i in range(n)]
    old = b"".join(lines)
    ends = [sum(len(x) for x in lines[: i + 1]) for i in range(len(lines))]
    last = len(lines) - 1
    while sum(len(x) for x in lines[last:]) < MARK_MAX:
        last -= 1
    seen = data.draw(st.integers(1, last - 2))  # the last line end when it was identified (s.ahead)
    cut = data.draw(st.integers(seen + 1, len(lines) - 2))  # the copy made before the read got to the end
    gone = data.draw(st.integers(seen + 1, last - 1))  # the line sed removed
    s = FileState(fid="x", dev=0, ino=0, head_len=len(HEADER), head=digest(HEADER), offset=0, mark="", path="p",
                  family="p", size=len(old), ahead=[ends[seen], digest(old[max(0, ends[seen] - MARK_MAX):ends[seen]])],
                  reread_to=[len(old), digest(old[-MARK_MAX:])])
    edited = b"".join(lines[:gone] + lines[gone + 1:])
    tmp = tmp_path_factory.mktemp("shorter")
    prefix, with_edit = opened(tmp, "prefix", old[: ends[cut]]), opened(tmp, "edited", edited)
    try:
        assert reread_edited(prefix, ends[cut], s) == (0, ends[cut])  # (held by s.ahead alone)
        assert reread_edited(prefix, ends[cut], s, by_ahead=False) is None
        assert reread_edited(with_edit, len(edited), s, by_ahead=False) == (0, len(edited))
    finally:
        prefix.close()
        with_edit.close()


def test_marks_are_found_in_a_compressed_file_as_in_a_plain_one(tmp_path):
    """A backup edited and then compressed while the agent was stopped is searched through gzip, in one pass."""
    data = HEADER + b"".join(line(i) for i in range(5000))  # (over 16 chunks read: several reads, one stream)
    at = len(HEADER) + sum(len(line(i)) for i in range(4000))
    (tmp_path / "b.gz").write_bytes(gzip.compress(data))
    plain, packed = opened(tmp_path, "b", data), OpenFile(str(tmp_path / "b.gz"), gz=True)
    try:
        mark = digest(data[at - MARK_MAX:at])
        assert marked_ends(packed, len(data), mark) == marked_ends(plain, len(data), mark) == [at]
    finally:
        plain.close()
        packed.close()


class ReadsBack:
    """A file read through, counting the reads that go back (each decompresses a .gz again from its start)."""

    def __init__(self, f: OpenFile):
        self.f, self.at, self.back = f, 0, 0

    def read(self, offset: int, n: int) -> bytes:
        self.back += offset < self.at
        out = self.f.read(offset, n)
        self.at = offset + len(out)
        return out


@settings(max_examples=40, deadline=None)
@given(n=st.integers(20, 3000), data=st.data(), appended=st.integers(0, 30))
def test_a_compressed_edited_copy_is_placed_as_the_plain_one_reading_it_forward(tmp_path_factory, n, data, appended):
    """The edited copy compressed (`sed -i`, then logrotate `compress`): through gzip, forward, the same Edit as the
    plain file's, wherever the lines were removed, altered or inserted (near the end too), and a bounded number of
    reads back whatever its length (the common end compared back a chunk at a time decompressed it once a chunk)."""
    tmp = tmp_path_factory.mktemp("gz")
    lines = [HEADER] + [line(i) for i in range(n)]
    old = b"".join(lines)
    chosen = data.draw(st.lists(st.integers(1, len(lines) - 1), min_size=1, max_size=5, unique=True))
    kinds = data.draw(st.lists(st.sampled_from(["delete", "alter", "insert"]), min_size=len(chosen),
                               max_size=len(chosen)))
    new_lines: list[bytes] = []
    for i, x in enumerate(lines):
        kind = kinds[chosen.index(i)] if i in chosen else None
        if kind != "delete":
            new_lines += [line(i, " (scrubbed)")] if kind == "alter" else [line(100_000 + i), x] if kind else [x]
    new = b"".join(new_lines) + b"".join(line(1_000_000 + i) for i in range(appended))
    (tmp / "new.gz").write_bytes(gzip.compress(new))
    a, plain, packed = opened(tmp, "old", old), opened(tmp, "new", new), OpenFile(str(tmp / "new.gz"), gz=True)
    try:
        through = ReadsBack(packed)
        assert edited_copy(a, len(old), len(HEADER), through, len(new), forward=True) == edited_copy(
            a, len(old), len(HEADER), plain, len(new))
        assert through.back <= 5, through.back  # (find, align twice, the common end, the changed lines)
    finally:
        for f in (a, plain, packed):
            f.close()


@settings(max_examples=40, deadline=None)
@given(data=st.binary(min_size=1, max_size=40).map(lambda b: bytes(x % 3 + 97 for x in b)),
       copies=st.integers(1, 3 * CHUNK // 40), needle=st.integers(1, 300), lo=st.integers(0, 1000))
def test_find_all_finds_every_occurrence_reading_forward(tmp_path_factory, data, copies, needle, lo):
    """Every end of every occurrence (overlapping ones too, and those across two reads), the file read forward."""
    hay = (data * copies)[: 3 * CHUNK]
    word = hay[len(hay) // 3 : len(hay) // 3 + needle] or b"a"
    f = opened(tmp_path_factory.mktemp("find"), "hay", hay)
    try:
        through = ReadsBack(f)
        found = find_all(through, word, lo, len(hay))
    finally:
        f.close()
    assert found == [i + len(word) for i in range(lo, len(hay) - len(word) + 1) if hay.startswith(word, i)]
    assert through.back == 0


REPEATED = [b"heartbeat ok\n", b"\tat com.example.Thing.run(Thing.java:42)\n", b"\tat java.lang.Thread.run(Thread.java:829)\n"]


@settings(max_examples=300, deadline=None)
@given(n=st.integers(3, 40), data=st.data())
def test_an_edit_near_the_end_is_placed_only_where_a_removal_or_alteration_explains_it(tmp_path_factory, n, data):
    """aligned_end: lines near the end of what was read removed, altered, inserted, or made equal to a later one, in
    a log whose lines may repeat (heartbeats, stack frames), and then lines appended: some repeated, some copies of
    the last lines read. Where the new file's bytes can be the last line read removed or altered and written again
    after other lines (a writer repeating it), placing the end after that copy skipped the lines before it, unnamed
    (a heartbeat removed, three lines and a heartbeat appended: the three were skipped; found by this property, 60 in
    20,000 with repeated lines only). So a placement must be one a removal or alteration of lines explains — the new
    file up to it holds what was read up to where they differ, no more lines than what was read after that, and ends
    with the last line read — and an edit that only removes or alters lines, with fresh lines appended after it, is
    placed exactly or not at all."""
    def pick(i: int) -> bytes:
        return data.draw(st.sampled_from([line(i)] + REPEATED))
    lines = [HEADER] + [pick(i) for i in range(n)]
    old = b"".join(lines)
    first = len(lines) - 1
    while sum(len(x) for x in lines[first:]) < MARK_MAX and first > 1:
        first -= 1
    at = data.draw(st.integers(max(1, first), len(lines) - 1))  # (within the last MARK_MAX bytes read)
    kind = data.draw(st.sampled_from(["delete", "delete2", "alter", "insert", "equal_later"]))
    new_lines = lines[:at] + {"delete": [], "delete2": [], "alter": [line(100_000 + at, " (scrubbed)")],
                              "insert": [pick(100_000 + at), lines[at]],
                              "equal_later": [lines[data.draw(st.integers(at, len(lines) - 1))]]}[kind]
    new_lines += lines[at + (2 if kind == "delete2" else 1):]
    edited = b"".join(new_lines)
    fresh = data.draw(st.booleans())
    appended = [line(1_000_000 + i) if fresh else data.draw(st.sampled_from([line(1_000_000 + i)] + REPEATED
                                                                            + lines[-3:]))
                for i in range(data.draw(st.integers(0, 8)))]
    new = edited + b"".join(appended)
    if old[-MARK_MAX:] in new or new.startswith(old):
        return  # (not placed by the lines after the edit)
    tmp = tmp_path_factory.mktemp("near")
    a, b = opened(tmp, "old", old), opened(tmp, "new", new)
    try:
        edit = edited_copy(a, len(old), len(HEADER), b, len(new))
    finally:
        a.close()
        b.close()
    if edit is None:
        return
    start = len(b"".join(lines[:next(i for i, (x, y) in enumerate(zip(lines, new_lines + [b""])) if x != y)]))
    placed = new[:edit.resume]
    assert placed[:start] == old[:start] and placed.endswith(lines[-1]), (kind, at, edit)
    assert len(placed[start:].splitlines()) <= len(old[start:].splitlines()), (kind, at, appended, edit)
    if fresh and kind in ("delete", "delete2", "alter"):
        assert edit.resume == len(edited), (kind, at, edit)
