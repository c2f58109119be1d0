"""Attack 14 (issue 21): torture seeds of an examiner's own that fail, each replayed through the harness's command
line (`make torture SEED=<seed> N=1 [ARGS=--overtaken]`, 60 steps). Found in `SEED=140000 N=1500` (1 of 1,500
failed) and `SEED=150000 N=1500 ARGS=--overtaken` (11 of 1,500 failed). Their outcome depends on the load (the
harness's scans race its writers): by hand at load 12-45, 140222, 150491, 150505, 150551 and 150921 failed 6 of 6
command-line replays, 150924 and 151277 2 of 2; under pytest at load 45, 140222 and 150924 once passed. So each
seed is replayed up to 3 times here and passes only if every replay passes (150102, 150309, 150453 and 150596,
which failed 1-3 of 4 replays, are left out). `SEED=170000 N=300 STEPS=40 ARGS=--overtaken` (the normal run's
steps): 297 of 300; 170007, 170057 and 170224 failed 5 of 5 replays each."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SEEDS = [
    # (seed, overtaken, what the harness said[, steps: 60 unless given])
    (140222, False, "1 line of a seen file destroyed unread, no loss warned"),
    (150491, True, "1 line delivered twice, silently"),
    (150551, True, "1 line delivered twice, silently"),
    (150505, True, "89 lines delivered twice (warned as a possible repeat)"),
    (150921, True, "2 lines of seen files destroyed unread, no loss warned"),
    (150924, True, "1 line delivered twice, silently"),
    (151277, True, "1 line delivered twice, silently"),
    (170007, True, "32 lines delivered twice, silently", 40),
    (170057, True, "3 lines of seen files destroyed unread, no loss warned", 40),
    (170224, True, "2 lines of seen files destroyed unread, no loss warned", 40),
]


@pytest.mark.parametrize("seed,overtaken,found,steps", [(*s, 60)[:4] for s in SEEDS], ids=[str(s[0]) for s in SEEDS])
# Not strict: the outcome depends on the load, so on a quiet host (CI) a seed may pass all three replays, and a
# strict xfail would turn main red at random. Made plain once fixed.
@pytest.mark.xfail(strict=False, reason="the schedule fails the harness's invariant (see `found`): every line on "
                   "disk while the tailer was alive should be delivered exactly once, every loss warned")
def test_examiner_seed_passes(seed, overtaken, found, steps):
    command = [sys.executable, "-m", "tests.torture.harness", "--seed", str(seed), "--n", "1", "--steps", str(steps)]
    if overtaken:
        command.append("--overtaken")
    for _ in range(3):
        run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=240)
        assert run.returncode == 0 and "FAILED" not in run.stdout + run.stderr, (found, run.stdout[-2000:])
