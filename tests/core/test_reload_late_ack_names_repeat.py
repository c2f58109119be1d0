"""A closed output's send that outlives the close's grace and is acknowledged after the reload has read what the
output held (leftover()) and let it go: the batch was taken back to be read again, so its ack counts for nothing
and the re-read sends the events a second time. grace23 (issue 23) left this window open and silent: the server
acknowledging between the join's timeout and the plugin's close. Nothing can take the re-read back then; the
repeat is named, with its count, at warning level."""
from __future__ import annotations

import logging
import threading

from shipper.plugin import Batch, Output, OutputConfig, OutputContext
from tests.core.test_reload_waits_for_a_send_no_close_cuts import stopped_in_a_send
from tests.support import wait_until


class AckedLate(Output):
    """A send whose server acknowledges when `go` is set (a Fluentd server's ack just after the grace)."""

    def __init__(self, ctx: OutputContext):
        super().__init__(OutputConfig(type="acked_late", name=ctx.name), ctx)
        self.go = threading.Event()
        self.stored: list[int] = []

    def send(self, batch: Batch) -> None:
        self.go.wait(60)
        self.stored.extend(ev["n"] for ev in batch.events)


def test_an_ack_after_the_reload_let_the_batch_go_names_the_repeat(tmp_path, caplog):
    # As Reloads.apply does for an output it replaces: stop, close within the grace (here it runs out), then what
    # the output held is settled (stranded) and, no output sending it any more, taken back to be read again.
    tracker, seq, out, w = stopped_in_a_send(tmp_path, AckedLate, [1, 2])
    w.close(timeout=0.05)
    held = w.leftover()
    assert [s for _, _, s in held] == [seq]
    tracker.strand(seq, ["out"])
    assert tracker.unfinished() == {seq}
    tracker.withdraw({seq})
    with caplog.at_level(logging.WARNING, logger="shipper.output"):
        out.go.set()  # the server's ack comes now
        wait_until(lambda: not w.alive(), 10, "the closed output's thread to end")
    assert out.stored == [1, 2], "the server has the batch, which the re-read sends again"
    named = [r for r in caplog.records if r.levelno == logging.WARNING and "repeat" in r.getMessage()]
    assert named and getattr(named[0], "events", None) == 2, \
        "a batch stored after it was let go to be read again is a silent repeat"


def test_an_ack_of_a_stranded_batch_not_yet_taken_back_counts_and_names_nothing(tmp_path, caplog):
    tracker, seq, out, w = stopped_in_a_send(tmp_path, AckedLate, [1])
    w.close(timeout=0.05)
    tracker.strand(seq, ["out"])
    with caplog.at_level(logging.WARNING, logger="shipper.output"):
        out.go.set()
        wait_until(lambda: not w.alive(), 10, "the closed output's thread to end")
    assert tracker.progress(seq) is None, "stored after all: the batch completes, nothing is read again"
    assert not [r for r in caplog.records if "repeat" in r.getMessage()]
