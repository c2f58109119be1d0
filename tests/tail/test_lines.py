"""Line cutting: property tests against a plain model of lines."""
from __future__ import annotations

from hypothesis import given, settings, strategies as st

from shipper.tail.lines import TRUNCATED, split_lines

line = st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"").replace(b"\r", b""))


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
            out.append((rec, fl))
        pos += got.consumed
        cont = got.cont
    # what waits is the partial last line, never a complete one
    assert data[pos:] == b"p" * tail_len
    # pieces of each line, in order; a piece is flagged iff its line was over the limit
    expected = []
    for l in lines:
        full = l + (b"\r" if crlf else b"")  # a cut may separate the \r from its \n
        if len(full) <= max_line:
            expected.append((l, ()))
        else:
            pieces = [full[i:i + max_line] for i in range(0, len(full), max_line)]
            if crlf and pieces[-1].endswith(b"\r"):
                pieces[-1] = pieces[-1][:-1]
            expected.extend((p, (TRUNCATED,)) for p in pieces)
    assert out == expected
