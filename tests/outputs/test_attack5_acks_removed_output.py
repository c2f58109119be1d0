"""Attack 5: a reload that removes an output acknowledges the batches it held on its behalf (the other
outputs' acks decide); the removed output's own thread may still finish a send the close cut short and
acknowledge the same batch. Counted twice, the batch would be committed before the outputs that still
hold it delivered it (a crash then skips it). And an ack for a batch a reload withdrew, arriving when
the window is empty, raised IndexError in the output thread (found with a reload replacing a blocked
stdout)."""
from __future__ import annotations

from shipper.acks import AckTracker


def tracker() -> tuple[AckTracker, list[dict]]:
    commits: list[dict] = []
    return AckTracker(lambda fragment: commits.append(dict(fragment)) or True), commits


def test_a_removed_outputs_late_ack_is_not_counted_a_second_time():
    t, commits = tracker()
    seq = t.register(2, {"pos": 1})  # two outputs: stdout and the removed fluentd
    t.ack_removed(seq, "fluentd")
    t.ack(seq, "fluentd")  # its send completed after all, after the reload
    assert t.wait_saved(10)  # (commits are made by the tracker's thread: none is in progress)
    assert commits == [] and t.in_flight() == 1, "committed before stdout delivered the batch"
    t.ack(seq, "stdout")
    assert t.wait_idle(10)
    assert commits == [{"pos": 1}] and t.in_flight() == 0


def test_an_ack_that_came_first_makes_the_removal_count_nothing():
    t, commits = tracker()
    seq = t.register(2, {"pos": 1})
    t.ack(seq, "fluentd")
    t.ack_removed(seq, "fluentd")
    assert t.wait_saved(10)
    assert commits == [] and t.in_flight() == 1
    t.ack(seq, "stdout")
    assert t.wait_idle(10)
    assert commits == [{"pos": 1}]


def test_an_ack_after_every_batch_was_withdrawn_is_ignored():
    t, commits = tracker()
    seq = t.register(1, {"pos": 1})
    t.withdraw({seq})
    t.ack(seq, "stdout")  # the replaced output's thread, unblocked after the reload
    t.ack(seq)
    assert t.wait_saved(10)
    assert commits == [] and t.in_flight() == 0
