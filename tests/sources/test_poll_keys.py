"""An http_poll event's key (and so its stable id, the Elasticsearch `_id`, and what an output's note of the
events it stored names) is the commit's digest and its rank among identical commits of its second, not its
offset: pruning and late-listed commits shift offsets onto other commits."""
from __future__ import annotations

import copy

from tests.peers.puppet_activity_api import PuppetActivityAPI
from tests.sources.test_http_poll_source import Harness, messages


def keyed(h: Harness, start: int = 0) -> dict[str, str]:
    """Key -> message of the records shipped since `start` (one event per commit here)."""
    out: dict[str, str] = {}
    for key, message in zip(h.keys[start:], messages(h.records[start:])):
        assert key not in out, f"two commits shipped under one key {key}: {out[key]!r} and {message!r}"
        out[key] = message
    return out


def test_commits_shipped_after_pruning_get_keys_of_their_own(tmp_path):
    with PuppetActivityAPI(tmp_path, tls=False) as api:
        h = Harness(api, tmp_path, services=["rbac"], page_size=4)
        for i in range(10):
            api.add("rbac", [f"old {i}"])
        h.run_once()
        api.prune_oldest("rbac", 6)  # the next commits take the offsets the first six had
        for i in range(6):
            api.add("rbac", [f"new {i}"])
        assert sorted(h.run_once()) == sorted(f"new {i}" for i in range(6))
        keyed(h)  # sixteen commits, sixteen keys


def test_identical_commits_of_one_second_get_two_keys_and_the_same_two_when_read_again(tmp_path):
    with PuppetActivityAPI(tmp_path, tls=False) as api:
        h = Harness(api, tmp_path, services=["rbac"], page_size=2)
        api.add("rbac", ["before"])
        twin = api.add("rbac", ["same"])
        api.add_copy(twin)  # a second, real event that looks the same
        api.add("rbac", ["after"], same_second=True)
        saved = copy.deepcopy(h.state)
        h.run_once()
        first = keyed(h)
        h.state = saved  # as after a kill -9 before any checkpoint: everything read again
        h.run_once()
        again = keyed(h, len(first))
    assert sorted(first.values()) == ["after", "before", "same", "same"]
    assert again == first  # the same commits, the same keys: a store recognises the replay
