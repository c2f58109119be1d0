"""A source a reload left waiting for batches its outputs are sending (shipper.reload_apply.Reloads.overdue):
named overdue once its batches made no progress for shutdown_timeout, with the wait's age counted from the
wait's start (the reload), not from the last batch that completed (attack 7's find 1 read "not completed for
108s" in a run of ~50 s)."""
from __future__ import annotations

from types import SimpleNamespace

from shipper.acks import AckTracker
from shipper.reload_apply import Reloads


def test_an_overdue_wait_names_its_age_from_its_start_and_how_long_nothing_moved():
    pipeline = SimpleNamespace(config=SimpleNamespace(settings=SimpleNamespace(shutdown_timeout=2.0)), workers={})
    reloads = Reloads(pipeline)  # type: ignore[arg-type]
    tracker = AckTracker(lambda fragment: None)
    seqs = [tracker.register(1, {"pos": i}) for i in range(3)]
    reloads.draining["app"] = SimpleNamespace(tracker=tracker)  # type: ignore[assignment]
    reloads.restart_cfgs["app"] = None  # type: ignore[assignment]
    reloads._wait_began["app"] = 1000.0  # the reload that stopped it (Reloads.apply)
    assert reloads.overdue(1001.0) == []
    tracker.ack(seqs[0])  # progress at 1010: the wait is not overdue before 1012
    assert tracker.wait_saved(10)  # (committed by the tracker's own thread)
    assert reloads.overdue(1010.0) == []
    assert reloads.overdue(1011.5) == []
    (why,) = reloads.overdue(1013.0)
    assert "2 batches not completed for 13s (none for the last 3s, shutdown_timeout 2s)" in why, why
    assert why.startswith("source app: restart after a reload pending") and why.endswith("held by no output")
