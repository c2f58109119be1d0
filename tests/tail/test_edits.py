"""Properties of shipper/tail/edits.py on real files: a file edited (lines removed, altered, inserted
anywhere past its first line and before its last lines read) and written on after is told an edited copy
of what was read, the end of what was read is placed exactly, and the lines changed are counted; a file
that shares only its header, or lines repeated so that the end of what was read cannot be placed, is not."""
from __future__ import annotations

import os

from hypothesis import given, settings, strategies as st

from shipper.tail.edits import edited_copy
from shipper.tail.identity import MARK_MAX
from shipper.tail.reader import OpenFile

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
