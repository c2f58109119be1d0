"""The pipeline's committer (shipper.acks.Committer): one long-lived thread commits every source's
checkpoints, holds no tracker while it waits, survives a commit that raises, and a stop commits what
is due and then ends, without hanging on a commit that does not return."""
from __future__ import annotations

import gc
import threading
import time
import weakref

from shipper.acks import AckTracker, CommitFailed, Committer
from tests.support import wait


def test_one_thread_commits_every_tracker_burst_after_burst():
    """Two sources' trackers, five bursts of acks each with the committer idle in between: every commit
    is made by the same thread (a thread started per burst cost more CPU than grouping saved)."""
    committer = Committer()
    threads: list[threading.Thread] = []  # kept: a thread per burst could reuse a dead one's ident

    def commit(fragment):
        threads.append(threading.current_thread())

    trackers = [AckTracker(commit, committer), AckTracker(commit, committer)]
    for burst in range(5):
        for tracker in trackers:
            for _ in range(3):
                tracker.ack(tracker.register(1, {"pos": burst}))
        for tracker in trackers:
            assert tracker.wait_idle(30)
        time.sleep(0.05)  # idle: a thread per burst would have ended here
    assert len(threads) >= 10 and all(t is threads[0] for t in threads), {t.name for t in threads}
    assert threads[0] is not threading.current_thread()  # the acks did not wait for their commit
    assert committer.stop(30) and not threads[0].is_alive()


def test_an_idle_committer_holds_no_tracker():
    """With cyclic collection off (as the runner makes it rare), a tracker whose commits returned is
    freed as soon as its owner lets go of it, every time: the committer let go of it before a waiter on
    wait_idle() could run (a replaced source runner is freed at the reload's next tick)."""
    committer = Committer()
    gc.disable()
    try:
        for i in range(200):
            tracker = AckTracker(lambda fragment: None, committer)
            tracker.ack(tracker.register(1, {"pos": i}))
            assert tracker.wait_idle(30)
            ref = weakref.ref(tracker)
            del tracker
            assert ref() is None, f"round {i}: the committer still held the tracker it had committed"
    finally:
        gc.enable()
        committer.stop(30)


def test_a_commit_that_raises_is_kept_and_the_committer_goes_on():
    """A bug in one source's commit neither ends the one thread (every source's commits would stop) nor
    drops the fragment: the next completed batch commits it, merged."""
    committer = Committer()
    committed: list[dict] = []
    raised = threading.Event()

    def commit(fragment):
        if not raised.is_set():
            raised.set()
            raise RuntimeError("a bug in a commit")
        committed.append(dict(fragment))

    tracker = AckTracker(commit, committer)
    tracker.ack(tracker.register(1, {"a": 1}))
    assert raised.wait(30)
    assert not tracker.wait_idle(0.2) and committed == [], "what the failed commit held is kept, not idle"
    other = AckTracker(lambda fragment: committed.append(dict(fragment)), committer)
    other.ack(other.register(1, {"other": 1}))
    assert other.wait_idle(30), "the committer ended with the exception"
    tracker.ack(tracker.register(1, {"b": 2}))
    assert tracker.wait_idle(30)
    assert committed == [{"other": 1}, {"a": 1, "b": 2}]
    assert committer.stop(30)


def test_stop_commits_what_is_due_then_nothing_more():
    """A stop's last acks (the outputs closing) are committed before stop() returns; a batch completed
    after it is not committed (the store closes next), its tracker is not idle, and its ack does not wait."""
    committer = Committer()
    committed: list[dict] = []
    entered, release = threading.Event(), threading.Event()

    def slow_commit(fragment):
        entered.set()
        assert release.wait(30)
        committed.append(dict(fragment))

    tracker = AckTracker(slow_commit, committer)
    tracker.ack(tracker.register(1, {"pos": 1}))
    assert entered.wait(30)
    tracker.ack(tracker.register(1, {"pos": 2}))  # merged behind the commit in progress
    threading.Timer(0.3, release.set).start()
    assert committer.stop(30)
    assert committed == [{"pos": 1}, {"pos": 2}] and tracker.in_flight() == 0
    for i in range(3, 20):  # no ack waits for a committer that ended
        tracker.ack(tracker.register(1, {"pos": i}))
    assert committed == [{"pos": 1}, {"pos": 2}] and tracker.in_flight() == 1


def test_stop_does_not_hang_on_a_commit_that_does_not_return():
    """A commit hung (a frozen filesystem): stop() returns False after its timeout, not when it returns."""
    committer = Committer()
    entered, release = threading.Event(), threading.Event()

    def hung(fragment):
        entered.set()
        release.wait(60)

    tracker = AckTracker(hung, committer)
    tracker.ack(tracker.register(1, {"pos": 1}))
    assert entered.wait(30)
    started = time.monotonic()
    assert committer.stop(0.5) is False
    assert time.monotonic() - started < 10
    release.set()
    assert tracker.wait_idle(30)


def test_a_source_whose_commits_keep_failing_does_not_hold_the_others_commits():
    """Source x's commits keep failing (CommitFailed: SourceRunner's store error, tried again after a
    backoff): the one thread does not spend that backoff on x, so source y's checkpoints are committed
    meanwhile, burst after burst; x's batches keep their places in the outputs' windows until x's commit
    works, then go."""
    committer = Committer()
    x_works, x_tries = threading.Event(), []
    x_committed: list[dict] = []
    y_committed: list[dict] = []

    def x_commit(fragment):
        x_tries.append(time.monotonic())
        if not x_works.is_set():
            raise CommitFailed(0.2)
        x_committed.append(dict(fragment))

    x = AckTracker(x_commit, committer)
    y = AckTracker(lambda fragment: y_committed.append(dict(fragment)), committer)
    x_settled: list[int] = []
    x.ack(x.register(1, {"x": 1}), "out", lambda: x_settled.append(1))
    assert wait(lambda: len(x_tries) >= 2, 30), "tried again after its backoff"
    for burst in range(5):
        y.ack(y.register(1, {"y": burst}), "out", lambda: None)
        assert y.wait_idle(30), f"burst {burst}: y's commit waited for x's failing one"
    assert y_committed == [{"y": burst} for burst in range(5)]
    assert x_committed == [] and x_settled == [] and not x.wait_idle(0.1), "x's batch is still in flight"
    x.ack(x.register(1, {"x": 2}), "out", lambda: x_settled.append(2))  # merged into the failing one
    x_works.set()
    assert x.wait_idle(30) and x_committed == [{"x": 2}] and sorted(x_settled) == [1, 2]
    tries = len(x_tries)
    time.sleep(0.5)
    assert len(x_tries) == tries, "committed: not tried again"
    assert committer.stop(30)


def test_stop_tries_a_failing_commit_once_more_then_gives_it_up():
    """At a stop a commit waiting for its retry is tried at once (a stop's freed reserve may let it fit),
    and failing again it is given up: stop() returns without waiting for backoffs, its batch is not
    committed (read again next start) and no longer holds the output's window."""
    committer = Committer()
    tries: list[float] = []

    def failing(fragment):
        tries.append(time.monotonic())
        raise CommitFailed(60)

    tracker = AckTracker(failing, committer)
    settled: list[int] = []
    tracker.ack(tracker.register(1, {"pos": 1}), "out", lambda: settled.append(1))
    assert wait(lambda: len(tries) == 1, 30)
    started = time.monotonic()
    assert committer.stop(30)
    assert time.monotonic() - started < 10 and len(tries) == 2, "tried once more at the stop, not after 60 s"
    assert settled == [1] and tracker.in_flight() == 1
