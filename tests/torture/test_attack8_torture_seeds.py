"""Seeds of the torture harness that an examiner's own runs found failing (attack 8, issue 21's held-out
checks: `make torture SEED=77000 N=120 STEPS=80` and `SEED=88000`, 119 of 120 passed each;
`SEED=99000 N=80 STEPS=60 ARGS=--overtaken`: seeds 99023 and 99078 fail alone but flip with load, so they
are not here). Each replays with
`make torture SEED=<seed> N=1 STEPS=<steps>`; once fixed, move it to FOUND in test_torture.py."""
from __future__ import annotations

import pytest

from tests.torture.harness import run_schedule


@pytest.mark.xfail(strict=True, reason="seed 88094 (80 steps): a copytruncate with 5 lines written between the copy "
                   "and the truncation, then a restart before any read: the window is lost with no warning (the "
                   "cause of tests/tail/test_attack8_copytruncate_while_stopped_silent.py)")
def test_seed_88094_warns_every_loss_of_a_seen_file():
    run_schedule(88094, steps=80, strict=True)

