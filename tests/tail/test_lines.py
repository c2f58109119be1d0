"""Line cutting: property tests against a plain model of lines."""
from __future__ import annotations

from hypothesis import given, settings, strategies as st

from shipper.tail.lines import TRUNCATED, split_lines

line = st.one_of(st.binary(max_size=40), st.text(max_size=15).map(str.encode)).map(
    lambda b: b.replace(b"\n", b"").replace(b"\r", b""))


@settings(max_examples=300, deadline=None)
@given(st.lists(line, max_size=20), st.integers(4, 30), st.integers(0, 3), st.booleans())
def test_every_byte_of_every_line_once_and_long_lines_flagged(lines, max_line, tail_len, crlf):
    eol = b"\r\n" if crlf else b"\n"
    data = b"".join(l + eol for l in lines) + b"p" * tail_len
    pos, cont, out = 0, False, []
    while True:
        got = split_lines(data[pos:], pos, max_line, cont)
        if not got.consumed:
            break
        flags = got.flags or [()] * len(got.records)
        for rec, off, fl in zip(got.records, got.offsets, flags):
            assert data[off:off + len(rec)] == rec  # the key's offset points at the record
            assert len(rec) <= max_line
            out.append((rec, fl, off))
        pos += got.consumed
        cont = got.cont
    # what waits is the partial last line, never a complete one
    assert data[pos:] == b"p" * tail_len
    # pieces of each line, in order; a piece is flagged iff its line was over the limit (the limit
    # counts the line without its line end: a CRLF line of max_line bytes fits)
    start = 0
    for l in lines:
        pieces = []
        while out and start <= out[0][2] < start + len(l) + len(eol):
            pieces.append(out.pop(0)[:2])
        start += len(l) + len(eol)
        if len(l) <= max_line:
            assert pieces == [(l, ())]
            continue
        assert all(fl == (TRUNCATED,) for _, fl in pieces)
        assert b"".join(p for p, _ in pieces) == l  # a \r cut from its \n is still a line end
        # cut at the limit, or (never more than 3 bytes) before it to keep a UTF-8 character whole
        assert all(max_line - 3 <= len(p) <= max_line for p, _ in pieces[:-1])
        try:
            l.decode("utf-8")
        except UnicodeDecodeError:
            continue
        for p, _ in pieces:
            p.decode("utf-8")  # no character split between two pieces
    assert out == []


@settings(max_examples=300, deadline=None)
@given(st.lists(line, min_size=1, max_size=30), st.integers(0, 1 << 40), st.booleans())
def test_offsets_count_from_where_the_read_began(lines, base, crlf):
    """Each record's offset (its key, its checkpoint) is where its line starts in the file: the read's own offset
    plus every byte before the line, its line ends included (the fast path sums them in C, session 27)."""
    eol = b"\r\n" if crlf else b"\n"
    got = split_lines(b"".join(l + eol for l in lines), base, 1 << 20, False)
    starts, at = [], base
    for l in lines:
        starts.append(at)
        at += len(l) + len(eol)
    assert got.records == lines
    assert got.offsets == starts
    assert got.consumed == at - base


piece = st.sampled_from([b"a", b"\r", b"\0", b"\xc3\xa9", b"\xff", b" "])
raw_line = st.lists(piece, max_size=12).map(b"".join)  # no "\n"; "\r" anywhere, also last


@settings(max_examples=400, deadline=None)
@given(st.lists(raw_line, max_size=25), raw_line, st.integers(0, 2), st.integers(0, 1 << 40))
def test_lines_within_the_limit_are_the_bytes_between_newlines_less_one_cr(lines, rest, slack, base):
    """Every line within the limit, "\r" anywhere: a record is the bytes before its "\n", one "\r" before that taken
    off (a CRLF line end); the partial last line waits, "\r"s and all (session 30: the lines are found by memchr and
    cut from their "\n", where bytes.split found them). `slack` 0 puts the longest line right at the limit."""
    records = [line[:-1] if line.endswith(b"\r") else line for line in lines]
    max_line = max(1, len(rest), *map(len, records)) + slack
    data = b"".join(line + b"\n" for line in lines) + rest
    starts, at = [], base
    for line in lines:
        starts.append(at)
        at += len(line) + 1
    got = split_lines(data, base, max_line, False)
    assert got.records == records
    assert all(type(r) is bytes for r in got.records)
    assert got.offsets == starts
    assert got.consumed == at - base
    assert (got.flags, got.cont, got.cuts) == (None, False, 0)
