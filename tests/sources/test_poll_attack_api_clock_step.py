"""Issue 22, attack: the Puppet Enterprise server's clock steps back (an NTP correction, a VM restored
from a snapshot). The activity API orders commits by commit time, so the commits made after the step
sort before the ones already shipped: the offsets move under the cursor. The source remembers the
`resync_commits` shipped commits with the newest commit times and re-reads from the oldest of them, so a
step of any length is covered as long as fewer commits than that were stamped after the step's new time
(session 3 remembered 60 s of commit time: a step of an hour lost the new commits)."""
from __future__ import annotations

import logging
from collections import Counter
from datetime import timedelta

import pytest

from tests.peers.puppet_activity_api import PuppetActivityAPI
from tests.sources.test_http_poll_source import Harness, _logged, fill, metric


@pytest.mark.parametrize("step", [timedelta(seconds=2), timedelta(hours=1), timedelta(days=3650)])
def test_commits_made_after_the_server_clock_stepped_back_are_shipped_once(tmp_path, step):
    with PuppetActivityAPI(tmp_path) as api:
        first = fill(api, "rbac", 0, 10)
        h = Harness(api, tmp_path, services=["rbac"], page_size=4)
        got = h.run_once()
        api._clock -= step
        later = fill(api, "rbac", 10, 5)
        got += h.run_once()
        got += h.run_once()
        assert Counter(got) == Counter(first + later)


@pytest.mark.parametrize("keep", [1000, 2])
def test_one_commit_stamped_in_the_future_does_not_hide_the_commits_after_it(tmp_path, keep):
    """The server's clock ran ten years ahead for one commit, then was put right: every later commit
    sorts before it, poll after poll (with 2 remembered, the future one stays remembered: it is the newest)."""
    with PuppetActivityAPI(tmp_path) as api:
        first = fill(api, "rbac", 0, 5)
        api._clock += timedelta(days=3650)
        first += fill(api, "rbac", 5, 1)
        api._clock -= timedelta(days=3650) - timedelta(seconds=10)  # put right ten seconds later
        h = Harness(api, tmp_path, services=["rbac"], page_size=4, resync_commits=keep)
        lines = _logged(h)
        got = h.run_once()
        later = fill(api, "rbac", 10, 5)
        got += h.run_once()
        got += h.run_once()
        later += fill(api, "rbac", 21, 7)
        got += h.run_once()
        later += fill(api, "rbac", 30, 2)
        got += h.run_once()
        assert Counter(got) == Counter(first + later)
        # Each of the three polls with new commits re-read; the future commit is named once, not each time.
        assert lines.count(logging.WARNING, "moved under the cursor") == 1
        assert lines.count(logging.WARNING, "stamped in the future (2034-") == 1


def test_a_second_holding_more_commits_than_remembered_is_kept_whole(tmp_path):
    """More commits in one second than resync_commits: that newest second used to be dropped from memory
    whole, so after a move the commits stamped in it later sorted before the re-read point and were
    counted lost. It is remembered whole now, and said once."""
    with PuppetActivityAPI(tmp_path) as api:
        first = [f"s{i}" for i in range(9)]
        api.add("rbac", ["s0"])
        for m in first[1:]:
            api.add("rbac", [m], same_second=True)
        h = Harness(api, tmp_path, services=["rbac"], page_size=4, resync_commits=3)
        lines = _logged(h)
        losses = metric("shipper_losses_total", source="pe")
        got = h.run_once()
        api.prune_oldest("rbac", 2)  # the offsets move: a re-read
        later = []
        for i in range(3):
            api.add("rbac", [f"t{i}"], same_second=True)  # stamped in that same second
            later.append(f"t{i}")
        got += h.run_once()
        got += h.run_once()
        assert Counter(got) == Counter(first + later)
        assert metric("shipper_losses_total", source="pe") == losses
        assert lines.count(logging.WARNING, "more commits stamped in one second") == 1


def test_a_checkpoint_of_the_time_window_cursor_resumes_without_repeats(tmp_path):
    """Session 3's cursor saved `max_ts` and 60 s of commits, no `floor`: after an upgrade a move re-reads
    from 60 s before its newest commit and repeats nothing."""
    with PuppetActivityAPI(tmp_path) as api:
        fill(api, "rbac", 0, 10)
        h = Harness(api, tmp_path, services=["rbac"], page_size=4)
        h.run_once()
        state = h.state["service:rbac"]
        h.state["service:rbac"] = {"offset": state["offset"], "last": state["last"], "recent": state["recent"],
                                   "max_ts": max(ts for ts, _ in state["recent"])}
        api.prune_oldest("rbac", 3)
        later = fill(api, "rbac", 10, 4)
        assert Counter(h.run_once()) == Counter(later)
        assert h.run_once() == []


def test_commits_stamped_before_ones_already_shipped_are_at_least_counted_and_named(tmp_path, caplog):
    """A step further back than the remembered commits reach (4 here: the 10 shipped ones span four
    seconds, the two newest seconds are remembered): what the source can tell without reading them, how
    many commits sort before its re-read point that it never passed."""
    from shipper import metrics

    def losses() -> float:
        return metrics.REGISTRY.get_sample_value("shipper_losses_total", {"source": "pe"}) or 0.0

    with PuppetActivityAPI(tmp_path) as api:
        fill(api, "rbac", 0, 10)
        h = Harness(api, tmp_path, services=["rbac"], page_size=4, resync_commits=4)
        h.run_once()
        before = losses()
        api._clock -= timedelta(hours=1)
        fill(api, "rbac", 10, 5)
        with caplog.at_level("WARNING"):
            h.run_once()
        assert losses() == before + 1
        said = [r.getMessage() for r in caplog.records if "commit(s) appeared before" in r.getMessage()]
        assert len(said) == 1 and "rbac: 5 commit(s)" in said[0], said


def test_a_reread_cut_by_a_stop_goes_on_after_the_restart_without_repeats(tmp_path):
    """The re-read after a clock step spans pages; the agent stops after its first page was delivered
    (the skip list is in that page's checkpoint): the next start ships the rest, nothing twice."""
    import threading

    with PuppetActivityAPI(tmp_path) as api:
        first = fill(api, "rbac", 0, 12)
        h = Harness(api, tmp_path, services=["rbac"], page_size=3)
        got = h.run_once()
        api._clock -= timedelta(hours=1)
        later = fill(api, "rbac", 12, 7)
        stop = threading.Event()
        emitted = []
        inner = h.emit

        def emit_then_stop(batch):
            inner(batch)
            emitted.append(batch)
            if len(emitted) == 2:
                stop.set()  # a SIGTERM after the re-read's second page was delivered

        h.emit = emit_then_stop
        before = len(h.records)
        src = h.source(once=True, stop=stop)
        src.run()
        src.close()
        from tests.sources.test_http_poll_source import messages

        got += messages(h.records[before:])
        assert h.state["service:rbac"].get("skip"), h.state  # the re-read was cut with its skip list saved
        h.emit = inner
        got += h.run_once()
        got += h.run_once()
        assert Counter(got) == Counter(first + later)
