"""Issue 22, attack 2: an activity API whose `total` under-counts the commits it pages (a server bug the
peer plays with `total_bias`). tests/sources/test_http_poll_source.py shows it harmless while the history fits one
page; with more commits than a page, every poll took the short total for a shrink, re-read from commit 0,
and never shipped the commits past the total (a warning per poll, for ever)."""
from __future__ import annotations

from collections import Counter

from tests.peers.puppet_activity_api import PuppetActivityAPI
from tests.sources.test_http_poll_source import Harness, _running, fill, messages
from tests.support import wait_until


def test_a_total_below_the_commits_served_ships_every_commit_once_across_pages(tmp_path):
    with PuppetActivityAPI(tmp_path) as api:
        api.total_bias = -3
        expected = fill(api, "rbac", 0, 9)
        h = Harness(api, tmp_path, services=["rbac"], page_size=4)
        src, stop, t = _running(h)
        try:
            wait_until(lambda: Counter(messages(h.records)) == Counter(expected), 30, what="first 9 commits")
            expected += fill(api, "rbac", 9, 5)
            wait_until(lambda: Counter(messages(h.records)) == Counter(expected), 30, what="5 more commits")
        finally:
            stop.set()
            t.join(30)
        assert Counter(messages(h.records)) == Counter(expected)
