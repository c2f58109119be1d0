"""Attack 6: an output renamed by a reload (`fwd_a` → `fwd_b`: one removed, one added) while its server
is down held the batches read during the outage. They were acknowledged on the removed output's behalf
("the other outputs' acks decide") though no other output had them: committed, never sent to the new
name — 100 of 100 lost, silently. A batch a removed output held is acknowledged for it only while an
output that stays has it too (acknowledged, queued or being sent); otherwise it is read again for the
source's outputs now. Decided for every batch before any is acknowledged for a removed output."""
from __future__ import annotations

import threading
from types import SimpleNamespace

from shipper.acks import AckTracker
from shipper.output_worker import OutputWorker
from shipper.plugin import Batch, OutputContext
from shipper.reload_apply import Reloads
from shipper_plugins.outputs.stdout import StdoutOutput, StdoutOutputConfig


def worker(tmp_path, name: str) -> OutputWorker:  # (never started: its queue is what it holds)
    stop = threading.Event()
    out = StdoutOutput(StdoutOutputConfig(type="stdout", name=name), OutputContext(name, stop, str(tmp_path)))
    return OutputWorker(name, out, max_batches=8, max_bytes=1 << 20, stop=stop)


def setup(tmp_path, names):
    tracker = AckTracker(lambda fragment: True)
    workers = {n: worker(tmp_path, n) for n in names}
    reloads = Reloads(SimpleNamespace(workers=workers))  # type: ignore[arg-type]
    reloads.draining["app"] = SimpleNamespace(tracker=tracker)  # type: ignore[assignment]
    return tracker, workers, reloads


def send(tracker, workers, n, to):
    seq = tracker.register(len(to), {"pos": n}, [f"id{n}"])
    for name in to:
        assert workers[name].put(Batch("app", "audit.app", [{"n": n}], [f"id{n}"], 10), tracker, seq,
                                 threading.Event())
    return seq


def left(w: OutputWorker, tracker: AckTracker, seq: int) -> None:
    """The batch left the output's queue: sent (its ack follows)."""
    with w.queue_lock():
        w.remove(tracker, {seq})


def test_a_batch_only_a_removed_output_held_is_read_again(tmp_path):
    tracker, workers, reloads = setup(tmp_path, ["fwd_a"])
    seqs = [send(tracker, workers, n, ["fwd_a"]) for n in range(3)]
    assert reloads._had_by_staying({"fwd_a"}) == set(), f"batches {seqs} would be committed unsent"


def test_a_batch_an_output_that_stays_holds_or_stored_is_left_to_it(tmp_path):
    tracker, workers, reloads = setup(tmp_path, ["gone", "kept"])
    queued = send(tracker, workers, 1, ["gone", "kept"])
    stored = send(tracker, workers, 2, ["gone", "kept"])
    left(workers["kept"], tracker, stored)  # (as if sent)
    tracker.ack(stored, "kept")
    being_sent = send(tracker, workers, 3, ["gone", "kept"])
    left(workers["kept"], tracker, being_sent)  # left its queue, its ack not in yet
    only_gone = send(tracker, workers, 4, ["gone"])
    t = id(tracker)
    assert reloads._had_by_staying({"gone"}) == {(t, queued), (t, stored), (t, being_sent)}, \
        f"batch {only_gone} reached no output that stays: it must be read again"


def test_two_removed_outputs_do_not_count_as_an_output_that_stays(tmp_path):
    tracker, workers, reloads = setup(tmp_path, ["a", "b", "kept"])
    both = send(tracker, workers, 1, ["a", "b"])
    three = send(tracker, workers, 2, ["a", "b", "kept"])
    stored_by_a = send(tracker, workers, 3, ["a", "b"])
    left(workers["a"], tracker, stored_by_a)
    tracker.ack(stored_by_a, "a")  # stored by an output the reload closes: not by one that stays
    t = id(tracker)
    assert reloads._had_by_staying({"a", "b"}) == {(t, three)}, f"{both} and {stored_by_a} reach no output now"
