"""A reload that closes an output whose send cannot be cut short (Output.finishes_sends: stdout blocked on a
paused pipe reader) took the batch of that send for undelivered at once: read again for the replacement, it
was written twice (1,000 events, tests/e2e/test_attack5_stdout_stalled_reader.py). Now that batch is left
owed while the closed output's thread runs: delivered, it counts; if the thread ends without delivering it
(a stop, a failure), it is stranded then, and read again for the replacement."""
from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import TypeVar

from shipper.acks import AckTracker
from shipper.output_worker import OutputWorker
from shipper.plugin import Batch, Output, OutputConfig, OutputContext, Stopping
from shipper.reload_apply import Reloads, _Finishing
from tests.support import wait_until

O = TypeVar("O", bound=Output)


class Blocked(Output):
    """A send that waits for `go` (a pipe's reader paused), then delivers, or gives up if told to stop."""

    finishes_sends = True

    def __init__(self, ctx: OutputContext):
        super().__init__(OutputConfig(type="blocked", name=ctx.name), ctx)
        self.go = threading.Event()
        self.give_up = threading.Event()
        self.written: list[int] = []

    def send(self, batch: Batch) -> None:
        while not self.go.wait(0.05):
            if self.give_up.is_set():
                raise Stopping()
        self.written.extend(ev["n"] for ev in batch.events)


def stopped_in_a_send(tmp_path, output: type[O], events: list[int]) -> tuple[AckTracker, int, O, OutputWorker]:
    """An output "out" of class `output` whose worker is sending a batch of the `events` (each {"n": n}, id
    f"id{n}"), then told to stop, as a reload closing it tells it."""
    tracker = AckTracker(lambda fragment: True)
    stop = threading.Event()
    out = output(OutputContext("out", stop, str(tmp_path)))
    w = OutputWorker("out", out, max_batches=8, max_bytes=1 << 20, stop=stop)
    w.start()
    ids = [f"id{n}" for n in events]
    seq = tracker.register(1, {"pos": 1}, ids)
    assert w.put(Batch("app", "audit.app", [{"n": n} for n in events], ids, 10 * len(events)), tracker, seq,
                 threading.Event())
    wait_until(lambda: w.in_send(), 10, "the send to begin")
    stop.set()
    return tracker, seq, out, w


def closed_while_sending(tmp_path):
    """An output closed by a reload with a batch in its send, as Reloads.apply leaves it."""
    tracker, seq, out, w = stopped_in_a_send(tmp_path, Blocked, [1])
    reloads = Reloads(SimpleNamespace(workers={}))  # type: ignore[arg-type]
    reloads.draining["app"] = SimpleNamespace(tracker=tracker)  # type: ignore[assignment]
    sending = [(t, s) for _, t, s in w.in_send()]
    assert sending == [(tracker, seq)], "a send in progress after the close is one the reload waits for"
    reloads.finishing.append(_Finishing(w, "out", False, {"out"}, set(), sending))
    return tracker, seq, out, w, reloads


def test_a_send_that_delivers_after_the_close_counts_and_is_not_read_again(tmp_path):
    tracker, seq, out, w, reloads = closed_while_sending(tmp_path)
    reloads._settle_closed()
    assert tracker.unfinished() == set() and tracker.progress(seq) == (1, set()), \
        "while its send runs, the batch is owed, not taken back"
    out.go.set()  # the reader goes on
    wait_until(lambda: not w.alive(), 10, "the closed output's thread to end")
    reloads._settle_closed()
    assert out.written == [1] and tracker.progress(seq) is None and tracker.unfinished() == set()
    assert tracker.wait_idle(10), "the delivered batch is committed: the restarted source reads on after it"
    assert reloads.finishing == []


def test_a_send_that_ends_without_delivering_is_read_again(tmp_path):
    tracker, seq, out, w, reloads = closed_while_sending(tmp_path)
    out.give_up.set()  # it gave up before writing a byte (stdout waiting for another writer, at a stop)
    wait_until(lambda: not w.alive(), 10, "the closed output's thread to end")
    assert tracker.unfinished() == set(), "not settled yet"
    reloads._settle_closed()
    assert out.written == [] and tracker.unfinished() == {seq}, "stranded: read again for the replacement"
    assert reloads.finishing == []
