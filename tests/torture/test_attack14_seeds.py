"""Attack 14 (issue 21): torture seeds of an examiner's own that failed in the harness's real-time mode, found in
`SEED=140000 N=1500` (1 of 1,500 failed), `SEED=150000 N=1500 ARGS=--overtaken` (11 of 1,500) and `SEED=170000
N=300 STEPS=40 ARGS=--overtaken` (3 of 300). In real time their outcome depends on the load (at load 12-45 each
failed 2-6 of 6 replays, some passed at times).

Each is replayed here in the deterministic mode (virtual clocks, a file system of its own: the same outcome at any
load, tests/torture/harness.py), strictly, and in real time (the slow layer) as before. Deterministically the
seeds whose cause is still open fail every time: strict xfails, each saying what happens. Those that pass
deterministically at their own pace (`timing` 0) are timing cases: in real time they stay non-strict xfails.
Deterministically, 5 failed at every replay and 5 passed at 30 paces each (150491, 150505, 150924, 151277,
170057: timing cases). Of the 5: 150551, 170007 and 170224 were the tailer's, fixed, each cause with its test
(tests/tail/test_copy_renamed_during_scan.py, test_copy_of_closed_deleted.py,
test_copytruncate_head_only_grown_restart.py); 140222 and 150921 the harness's own accounting: it asked a warning
for a copytruncate window nothing on disk shows (the truncated file deleted before any read, with no descriptor of
the tailer's on it: Schedule.cut_windows, docs/design.md "Torture harness")."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.torture.harness import run_schedule

ROOT = Path(__file__).resolve().parents[2]

SEEDS = [
    # (seed, overtaken, what the real-time harness said, steps)
    (140222, False, "1 line of a seen file destroyed unread, no loss warned", 60),
    (150491, True, "1 line delivered twice, silently", 60),
    (150551, True, "1 line delivered twice, silently", 60),
    (150505, True, "89 lines delivered twice (warned as a possible repeat)", 60),
    (150921, True, "2 lines of seen files destroyed unread, no loss warned", 60),
    (150924, True, "1 line delivered twice, silently", 60),
    (151277, True, "1 line delivered twice, silently", 60),
    (170007, True, "32 lines delivered twice, silently", 40),
    (170057, True, "3 lines of seen files destroyed unread, no loss warned", 40),
    (170224, True, "2 lines of seen files destroyed unread, no loss warned", 40),
]

# Deterministically still failing (every replay, any load): seed -> what happens. (None left.)
OPEN: dict[int, str] = {}


def _deterministic(seeds):
    for seed, overtaken, _found, steps in seeds:
        marks = [pytest.mark.xfail(strict=True, reason=OPEN[seed])] if seed in OPEN else []
        yield pytest.param(seed, overtaken, steps, marks=marks, id=str(seed))


@pytest.mark.parametrize("seed,overtaken,steps", list(_deterministic(SEEDS)))
def test_examiner_seed_passes_deterministically(seed, overtaken, steps):
    run_schedule(seed, steps, strict=True, overtaken=overtaken)


@pytest.mark.parametrize("seed,overtaken,found,steps", SEEDS, ids=[str(s[0]) for s in SEEDS])
# Not strict: in real time the outcome depends on the load, so on a quiet host (CI) a seed may pass all three
# replays, and a strict xfail would turn main red at random.
@pytest.mark.xfail(strict=False, reason="in real time the schedule fails the harness's invariant at load (see "
                   "`found`): every line on disk while the tailer was alive should be delivered exactly once, every "
                   "loss warned")
def test_examiner_seed_passes_in_real_time(seed, overtaken, found, steps):
    command = [sys.executable, "-m", "tests.torture.harness", "--seed", str(seed), "--n", "1", "--steps", str(steps),
               "--real-time"]
    if overtaken:
        command.append("--overtaken")
    for _ in range(3):
        run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=240)
        assert run.returncode == 0 and "FAILED" not in run.stdout + run.stderr, (found, run.stdout[-2000:])
