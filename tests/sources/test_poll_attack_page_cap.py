"""Issue 22, attack: an activity API that caps `limit` at 1 (pages shorter than asked are not the end).
The source asks for the commit before its cursor plus a page; a server that answers one commit
answers only that anchor, and the source took it for "nothing new": 1 of 9 commits shipped, no
warning, for ever."""
from __future__ import annotations

from collections import Counter

from tests.peers.puppet_activity_api import PuppetActivityAPI
from tests.sources.test_http_poll_source import Harness, fill


def test_a_server_that_answers_one_commit_per_page_still_gets_every_commit_read(tmp_path):
    with PuppetActivityAPI(tmp_path) as api:
        expected = fill(api, "rbac", 0, 9)
        api.max_limit = 1
        h = Harness(api, tmp_path, services=["rbac"], page_size=10)
        got = h.run_once()
        got += h.run_once()  # a restart may not be needed, but must not repeat anything either
        assert Counter(got) == Counter(expected)
        assert len(api.event_requests()) < 60
