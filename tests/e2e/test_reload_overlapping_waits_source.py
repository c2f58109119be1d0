"""Reloads that change or remove the waiting source again (alone or with an output) while its restart waits
for the batches a frozen Fluentd holds (the scenario and what must hold: tests/e2e/overlapping_waits.py)."""
from __future__ import annotations

import pytest

from tests.e2e.overlapping_waits import run, sequences

pytestmark = pytest.mark.slow


@sequences(["tags"], ["remove_src", "add_src"], ["replace", "tags"], ["tags", "replace"])
def test_reloads_overlapping_a_source_restart_wait(tmp_path, after):
    run(tmp_path, after)
