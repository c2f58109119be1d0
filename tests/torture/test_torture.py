"""The torture harness in the normal test run: a bounded number of seeded schedules (about 20 s).
Long runs: `make torture SEED=1 N=1000` (strict: exactly once).

KNOWN_FAILING are seeds of the 1-60 and 200-224 ranges that still fail (open bugs, listed in
docs/design.md "Torture harness"); they are left out here so this run guards what works, and
`make torture` shows them."""
from __future__ import annotations

import pytest

from tests.torture.harness import run_schedule

KNOWN_FAILING = {15, 45, 215}
SEEDS = [s for s in range(200, 225) if s not in KNOWN_FAILING]


@pytest.mark.parametrize("seed", SEEDS)
def test_schedule(seed):
    run_schedule(seed, steps=40, strict=False)
