"""The durations the unit's environment may change (SHIPPER_STALL_SECONDS, SHIPPER_PARSE_STALL_SECONDS,
SHIPPER_STATE_OPEN_SECONDS): read one way, a bad value named and the default kept."""
from __future__ import annotations

import logging

import pytest

from shipper import checkpoint, parse_workers, runner
from shipper.env_seconds import env_seconds


@pytest.mark.parametrize("raw", ["abc", "0", "-5", "nan", "inf", ""])
def test_a_value_that_is_not_a_positive_number_of_seconds_is_named_and_the_default_kept(monkeypatch, caplog, raw):
    monkeypatch.setenv("SHIPPER_X_SECONDS", raw)
    with caplog.at_level(logging.WARNING, logger="shipper"):
        assert env_seconds("SHIPPER_X_SECONDS", 7.0) == 7.0
    assert any("SHIPPER_X_SECONDS" in r.getMessage() and repr(raw) in r.getMessage() for r in caplog.records)


def test_each_knob_reads_its_own_variable(monkeypatch, caplog):
    monkeypatch.setenv("SHIPPER_STALL_SECONDS", "2.5")
    monkeypatch.setenv("SHIPPER_PARSE_STALL_SECONDS", "3")
    monkeypatch.setenv("SHIPPER_STATE_OPEN_SECONDS", "0.5")
    with caplog.at_level(logging.WARNING, logger="shipper"):
        assert (runner.stall_after(), parse_workers.stalled_after(), checkpoint.start_wait()) == (2.5, 3.0, 0.5)
    assert not caplog.records
    monkeypatch.delenv("SHIPPER_STALL_SECONDS")
    assert runner.stall_after() == runner.STALL_AFTER
