"""A stop and a start of the agent while a source's restart after a reload waits for the batches a frozen
Fluentd holds (the scenario and what must hold: tests/e2e/overlapping_waits.py)."""
from __future__ import annotations

import pytest

from tests.e2e.overlapping_waits import run, sequences

pytestmark = pytest.mark.slow


@sequences(["remove_src", "stop", "add_src"], ["stop"], ["replace", "stop"], ["add_out", "stop"])
def test_reloads_overlapping_a_source_restart_wait(tmp_path, after):
    run(tmp_path, after)
