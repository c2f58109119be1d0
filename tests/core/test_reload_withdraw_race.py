"""Issue 23: a reload takes back the batches of a stopping source no output was handed (reload_apply
._withdraw). A source parsing a backlog in worker processes routes each batch from its pool's collector
thread, which the reload does not wait for: it could register a batch, lose it to the withdrawal, and
queue it after — sent, then read again by the restarted source (a repeat), its late ack killing the
output thread with IndexError (a 40-minute soak, once) — or register a checkpoint-only fragment after
the withdrawal, committed past the batches taken back (a loss). The interleavings, made one by one."""
from __future__ import annotations

import threading
from types import SimpleNamespace

from shipper.acks import AckTracker
from shipper.output_worker import OutputWorker
from shipper.plugin import Batch, OutputContext
from shipper.reload_apply import _withdraw
from shipper_plugins.outputs.stdout import StdoutOutput, StdoutOutputConfig


def worker(tmp_path, name: str, max_batches: int = 8) -> OutputWorker:  # (never started: nothing is written)
    stop = threading.Event()
    out = StdoutOutput(StdoutOutputConfig(type="stdout", name=name), OutputContext(name, stop, str(tmp_path)))
    return OutputWorker(name, out, max_batches=max_batches, max_bytes=1 << 20, stop=stop)


def batch(n: int) -> Batch:
    return Batch("app", "audit.app", [{"n": n}], [f"id{n}"], 10)


def stdout_and_other(tmp_path):
    """A pipeline (not started) of one file source `app` and two outputs, stdout and the Fluentd `other`."""
    from shipper.config import parse_config
    from shipper.pipeline import Pipeline

    (tmp_path / "app.log").write_text("")
    config = parse_config(f"""
state_dir: {tmp_path / 'state'}
sources:
  - {{name: app, type: file, paths: ["{tmp_path / 'app.log'}"], parser: json}}
outputs:
  - {{type: stdout}}
  - {{type: fluentd, name: other, host: 127.0.0.1, port: 9}}  # (never started)
""", str(tmp_path / "shipper.yaml"), tmp_path)
    return Pipeline(config)


def test_a_batch_registered_before_a_withdrawal_and_queued_after_is_refused(tmp_path):
    commits: list[dict] = []
    tracker = AckTracker(lambda fragment: commits.append(dict(fragment)) or True)
    w = worker(tmp_path, "out")
    runner = SimpleNamespace(tracker=tracker)
    pipeline = SimpleNamespace(workers={"out": w})

    first = tracker.register(1, {"pos": 1})
    assert w.put(batch(1), tracker, first, threading.Event())
    late = tracker.register(1, {"pos": 2})  # the collector registered it; its put comes after the reload's withdrawal
    tracker.close_intake()  # the reload (reload_apply.Reloads.apply): abandon set, intake closed
    assert _withdraw(pipeline, runner) == (2, 0)  # (batches, events: registered with no ids here)
    assert not w.put(batch(2), tracker, late, threading.Event()), "queued after its withdrawal: sent, then read again"
    assert w.pending() == 0 and tracker.in_flight() == 0
    after = tracker.register(0, {"pos": 3, "gone": True})  # a checkpoint-only fragment the collector still had
    assert tracker.wait_saved(10)  # (commits are made by the tracker's thread: none is in progress)
    assert commits == [], "committed past the batches taken back: they would never be read again"
    assert not w.put(batch(3), tracker, after, threading.Event())


def test_a_batch_handed_to_one_output_and_withdrawn_is_not_queued_for_the_next(tmp_path):
    """Two outputs: the batch reached the first (not attempted yet), the reload took it back from there;
    the put to the second (which gives up only at the agent's stop) must not queue it either."""
    tracker = AckTracker(lambda fragment: True)
    a, b = worker(tmp_path, "a"), worker(tmp_path, "b")
    seq = tracker.register(2, {"pos": 1})
    assert a.put(batch(1), tracker, seq, threading.Event())
    tracker.close_intake()
    assert _withdraw(SimpleNamespace(workers={"a": a, "b": b}), SimpleNamespace(tracker=tracker)) == (1, 0)
    assert not b.put(batch(1), tracker, seq, threading.Event())
    assert a.pending() == b.pending() == 0


def test_a_put_blocked_on_a_full_queue_is_refused_when_the_withdrawal_that_makes_room_takes_it_back(tmp_path):
    """The queue full, a put waits for room; the reload's withdrawal takes back the queued batch and the
    waiting one, which makes room: the woken put must not queue its batch (it was sent, then read again
    by the restarted source: a repeat; a source that cannot read again had it named lost, and sent)."""
    tracker = AckTracker(lambda fragment: True)
    w = worker(tmp_path, "out", max_batches=1)
    first = tracker.register(1, {"pos": 1}, ["id1"])
    assert w.put(batch(1), tracker, first, threading.Event())
    waiting = tracker.register(1, {"pos": 2}, ["id2"])
    queued: list[bool] = []
    put = threading.Thread(target=lambda: queued.append(w.put(batch(2), tracker, waiting, threading.Event())))
    put.start()
    while not w._blocked:  # (it waits for room: the queue holds one batch, its limit)
        put.join(0.01)
    tracker.close_intake()
    assert _withdraw(SimpleNamespace(workers={"out": w}), SimpleNamespace(tracker=tracker)) == (2, 2)
    put.join(10)
    assert queued == [False], "queued after its withdrawal: sent, and read again"
    assert w.pending() == 0 and tracker.in_flight() == 0


def test_a_batch_left_untracked_by_the_reload_keeps_the_note_of_what_it_met(tmp_path):
    """A restarted source re-reads: stdout stored events e1, e2 before (its note), so they are skipped for
    it. A batch its pool's collector routes after the next reload closed the tracker's intake is not
    tracked (read again by the successor): the note must still hold what that batch met, or the note the
    source saves next (a stop, a take-back) forgets them and the successor sends them to stdout again."""
    from collections import Counter

    from shipper.acks import DELIVERED_PREFIX

    pipeline = stdout_and_other(tmp_path)
    try:
        r = pipeline.runners["app"]
        r._delivered_before = {"stdout": Counter(["e1", "e2"])}  # as loaded from the state at its start
        r.tracker.close_intake()  # the reload stops it
        r._route_batch({}, Batch("app", r.tag, [{"n": 1}, {"n": 2}, {"n": 3}], ["e1", "e2", "e3"], 30))
        assert r.tracker.in_flight() == 0 and r.tracker.untracked == (1, 3)
        r.save_delivered_to()
        assert sorted(pipeline.store.load("app")[DELIVERED_PREFIX + "stdout"]) == ["e1", "e2"]
    finally:
        pipeline.store.close()


def test_a_commit_that_met_the_old_note_s_end_does_not_delete_a_note_saved_since(tmp_path):
    """A re-read batch that met the last event an output stored before deletes that output's note when it
    commits. Committed after a take-back saved a new note for that output (its commit runs in an output's
    thread, the take-back in the main one), it must not delete the new one: the successor would send the
    taken-back batches to that output again."""
    from shipper.acks import DELIVERED_PREFIX

    pipeline = stdout_and_other(tmp_path)
    try:
        r = pipeline.runners["app"]
        seq = r.tracker.register(2, {"pos": 7}, ["e3"])
        r.tracker.ack(seq, "stdout")
        r.tracker.strand(seq, ["other"])  # a reload closed it
        assert r.tracker.unfinished() == {seq}
        r.save_delivered_to({seq})  # the take-back's note: stdout has e3
        r.tracker.withdraw({seq})
        r._commit({"pos": 6, DELIVERED_PREFIX + "stdout": None})  # the earlier batch that met the old note's end
        state = pipeline.store.load("app")
        assert state["pos"] == 6 and state[DELIVERED_PREFIX + "stdout"] == ["e3"]
    finally:
        pipeline.store.close()
