"""Reloads that change an output while a source's restart waits for the batches a frozen Fluentd holds
(the scenario and what must hold: tests/e2e/overlapping_waits.py)."""
from __future__ import annotations

import pytest

from tests.e2e.overlapping_waits import run, sequences

pytestmark = pytest.mark.slow


@sequences(["replace"], ["rename"], ["remove_out"], ["add_out"], ["rename", "replace"], ["remove_out", "add_out"],
           ["add_out", "replace"])
def test_reloads_overlapping_a_source_restart_wait(tmp_path, after):
    run(tmp_path, after)
