"""Attack (session 8): `make torture` with seeds of the attacker's own (60 steps) found schedules that
lose lines of files the tailer had seen without warning a loss naming the family — a silent loss:
- seed 7156 (`SEED=7100 N=150`: 149 of 150 passed): "2 lines of seen files destroyed unread, no loss
  warned"; replays fail 3 of 3;
- seed 8102 (`SEED=8100 N=150`: 149 of 150 passed): 9 lines, the same message; replays fail 3 of 3.
Both schedules mix a cleaner, freezes, restarts, rotations and copytruncate. Replayed strictly here;
each turns green when its cause is fixed (then move it to FOUND in test_torture.py)."""
from __future__ import annotations

import pytest

from tests.torture.harness import run_schedule


@pytest.mark.parametrize("seed", [
    pytest.param(7156, marks=pytest.mark.xfail(strict=True, reason="seed 7156: 2 lines of seen files destroyed "
                                                                   "unread, no loss warned")),
    pytest.param(8102, marks=pytest.mark.xfail(strict=True, reason="seed 8102: 9 lines of seen files destroyed "
                                                                   "unread, no loss warned")),
])
def test_schedule_loses_no_line_silently(seed):
    run_schedule(seed, steps=60, strict=True)
