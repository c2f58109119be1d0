"""Attack 15 (tests/e2e/test_attack15_stop_in_reload_replacing_down_output_exit0.py): events a reload took back to be
read again count as undelivered until a successor completed as many again (AckTracker.read_again), so a stop
before then says so and exits 1 — also when no output stored any of them (no note to save) and the successor
never started (the stop came first)."""
from __future__ import annotations

from types import SimpleNamespace

from shipper.acks import AckTracker
from shipper.reload_apply import Reloads


def test_the_events_of_the_batches_taken_back_are_counted():
    tracker = AckTracker(lambda fragment: True)
    seqs = {tracker.register(1, {"pos": n}, [f"e{n}a", f"e{n}b"]) for n in range(3)}
    tracker.withdraw(seqs)
    assert tracker.taken_back_events == 6


def test_a_successor_owes_them_until_as_many_completed():
    tracker = AckTracker(lambda fragment: True)
    tracker.read_again(3)
    first = tracker.register(1, {"pos": 1}, ["a", "b"])
    tracker.ack(first, "out")
    assert tracker.left_to_read_again() == 1
    second = tracker.register(1, {"pos": 2}, ["c"])
    assert tracker.left_to_read_again() == 1, "counted before its output stored it"
    tracker.ack(second, "out")
    assert tracker.left_to_read_again() == 0


def _runner(tracker: AckTracker, pending_bytes: int | None = None):
    return SimpleNamespace(tracker=tracker, source=SimpleNamespace(rereads=True, pending_bytes=lambda: pending_bytes))


def test_a_stop_before_the_successor_started_or_read_them_again_finds_them():
    runners: dict = {}
    reloads = Reloads(SimpleNamespace(runners=runners))  # type: ignore[arg-type]
    reloads.reread["app"] = 900  # its successor not started (the stop came first)
    assert reloads.unread_again() == {"app": 900}
    del reloads.reread["app"]
    successor = AckTracker(lambda fragment: True)
    successor.read_again(900)
    runners["app"] = _runner(successor, pending_bytes=4000)
    assert reloads.unread_again() == {"app": 900}
    # Read to the end and delivered, with fewer events than were taken back (a parser the reload changed): done.
    runners["app"] = _runner(successor, pending_bytes=0)
    assert reloads.unread_again() == {}
