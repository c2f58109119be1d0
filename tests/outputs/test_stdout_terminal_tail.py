"""What a terminal's hang-up names as possibly unread (shipper_plugins.outputs.stdout): the lines with a byte in the last
TERMINAL_HOLDS bytes written, counted by line whatever the batches and the pieces a batch was written in."""
from __future__ import annotations

from hypothesis import given, strategies as st

from shipper_plugins.outputs.stdout import TERMINAL_HOLDS, _last_line_lengths, _TerminalTail

line_lengths = st.lists(st.integers(0, 40_000), max_size=40)


def _lines(lengths: list[int]) -> list[bytes]:
    return [b"x" * n + b"\n" for n in lengths]


def _pieces(data: bytes, cuts: list[int]) -> list[bytes]:
    at = sorted({min(c, len(data)) for c in cuts})
    return [data[a:b] for a, b in zip([0, *at], [*at, len(data)])]


@given(line_lengths, st.lists(st.integers(0, 2_000_000), max_size=6), st.integers(1, 200_000))
def test_the_last_lines_are_measured_whole_across_pieces(lengths, cuts, room):
    lines = _lines(lengths)
    want: list[int] = []
    for line in reversed(lines):  # the fewest last lines whose bytes reach room
        want.insert(0, len(line))
        if sum(want) >= room:
            break
    assert _last_line_lengths(_pieces(b"".join(lines), cuts), room) == want


@given(st.lists(line_lengths, min_size=1, max_size=6))
def test_a_hang_up_names_the_lines_in_what_a_terminal_holds(batches):
    tail = _TerminalTail()
    written: list[int] = []
    for lengths in batches:
        tail.written(_lines(lengths))
        written += [n + 1 for n in lengths]
    held, total = [], 0
    for n in reversed(written):  # every line with a byte in the last TERMINAL_HOLDS bytes, and no other
        if total >= TERMINAL_HOLDS:
            break
        held.insert(0, n)
        total += n
    assert list(tail._lines) == held
    assert tail._bytes == sum(held) < TERMINAL_HOLDS + (held[0] if held else 0)
