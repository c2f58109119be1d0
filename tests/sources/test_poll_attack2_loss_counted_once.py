"""Issue 22, attack 2: the server's clock stepped back further than the remembered commits reach, so
commits sort before the re-read point and are not shipped (a documented, counted loss). The loss must be
counted and warned once: the re-read found nothing to ship, so its new cursor was never checkpointed, and
every restart (here four `--once` runs) re-read, warned and counted the same loss again."""
from __future__ import annotations

import logging
from collections import Counter
from datetime import timedelta

from tests.peers.puppet_activity_api import PuppetActivityAPI
from tests.sources.test_http_poll_source import Harness, _logged, fill, metric


def test_commits_lost_to_a_long_clock_step_are_counted_and_warned_once(tmp_path):
    with PuppetActivityAPI(tmp_path) as api:
        h = Harness(api, tmp_path, services=["rbac"], page_size=4, resync_commits=5)
        lines = _logged(h)
        shipped = [f"s{i}" for i in range(12)]
        for i, m in enumerate(shipped):
            api.add("rbac", [m], same_second=i % 3 != 0)  # 4 seconds of 3 commits: the newest one remembered
        got = h.run_once()
        api._clock -= timedelta(seconds=5)
        for i in range(3):
            api.add("rbac", [f"t{i}"], same_second=i > 0)  # stamped before every remembered commit
        before = metric("shipper_losses_total", source="pe")
        for _ in range(4):
            got += h.run_once()
        api._clock += timedelta(seconds=20)
        later = fill(api, "rbac", 50, 4)
        got += h.run_once()
        got += h.run_once()
        assert Counter(got) == Counter(shipped + later)
        assert metric("shipper_losses_total", source="pe") == before + 1
        assert lines.count(logging.WARNING, "commit(s) appeared before") == 1
