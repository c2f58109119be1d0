"""Issue 22, attack 3: a shipped commit of the cursor's last second vanishes from the listing and comes back
(a replica behind a load balancer one commit behind, a restore put right again). The source saw the history
move, re-read and skipped what it remembered; the vanished commit was not met, so the re-read forgot it was
passed, and when it was listed again it was shipped a second time, with no warning of a repeat (the same
with the server's order stable or shuffled, pages capped or not)."""
from __future__ import annotations

import logging
from collections import Counter

import pytest

from tests.peers.puppet_activity_api import PuppetActivityAPI
from tests.sources.test_http_poll_source import Harness, _logged


@pytest.mark.parametrize("where", [0, 3, 7])
def test_a_shipped_commit_that_vanishes_and_returns_is_not_shipped_again(tmp_path, where):
    with PuppetActivityAPI(tmp_path, tls=False) as api:
        expected = []
        for i in range(8):  # one second of 8 commits, read in pages of 3
            api.add("rbac", [f"m{i}"], same_second=i > 0)
            expected.append(f"m{i}")
        h = Harness(api, tmp_path, services=["rbac"], page_size=3)
        lines = _logged(h)
        got = h.run_once()
        with api.lock:
            gone = api.commits.pop(where)
        api.add("rbac", ["n1"], same_second=True)
        expected.append("n1")
        got += h.run_once()
        with api.lock:
            api.commits.insert(where, gone)  # listed again, as it was
        api.add("rbac", ["n2"], same_second=True)
        expected.append("n2")
        got += h.run_once()
        got += h.run_once()
        repeated = Counter(got) - Counter(expected)
        assert not repeated, f"{dict(repeated)} shipped twice"
        assert Counter(got) == Counter(expected)
        # not shipped again, and said: it may be a real new commit identical to the one that vanished
        assert lines.count(logging.WARNING, "listed again") == 1
