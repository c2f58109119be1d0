"""The http_poll cursor remembers shipped commits by a digest of what both API versions list of a commit
(http_poll_cursor.COMMON). Cursors saved before compared whole commits: such a cursor must read on without
taking its own commits for new ones, in the normal case (its last second is on the next page) and after the
history moved (a re-read skips every remembered commit), and end up holding common digests only."""
from __future__ import annotations

import logging
from collections import Counter

import pytest

from shipper_plugins.sources.http_poll_cursor import COMMON, commit_digest, whole_digest
from tests.peers.puppet_activity_api import PuppetActivityAPI
from tests.sources.test_http_poll_source import Harness


def as_saved_before_common(h: Harness, api: PuppetActivityAPI, version: str) -> None:
    """Rewrite the harness's saved cursors as an agent before COMMON saved them: whole digests of the commits
    as `version` of the API listed them."""
    whole = {commit_digest(getattr(c, version)()): whole_digest(getattr(c, version)()) for c in api.commits}
    for key, cur in h.state.items():
        if not key.startswith("service:"):
            continue
        cur["tail"] = [whole[d] for d in cur["tail"]]
        cur["last"] = cur["tail"][-1] if cur["tail"] else None
        cur["recent"] = [[ts, whole[d]] for ts, d in cur["recent"]]
        assert cur["tail"] and not any(d.startswith(COMMON) for d in cur["tail"])


def whole_digests_in(h: Harness) -> set[str]:
    return {d for k, cur in h.state.items() if k.startswith("service:")
            for d in cur["tail"] + [d for _, d in cur["recent"]] if not d.startswith(COMMON)}


def whole_digests_of(api: PuppetActivityAPI, version: str, messages: set[str]) -> set[str]:
    return {whole_digest(getattr(c, version)()) for c in api.commits if c.events[0]["message"] in messages}


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_a_cursor_of_whole_digests_reads_on_without_a_repeat(tmp_path, version, caplog):
    with PuppetActivityAPI(tmp_path, tls=False) as api:
        h = Harness(api, tmp_path, services=["rbac"], url=api.url(version), page_size=3)
        for i in range(7):
            api.add("rbac", [f"old {i}"], same_second=i in (5, 6))  # the last second holds three commits
        assert Counter(h.run_once()) == Counter(f"old {i}" for i in range(7))
        as_saved_before_common(h, api, version)
        for i in range(4):
            api.add("rbac", [f"new {i}"], same_second=i == 0)  # one more in the cursor's last second
        with caplog.at_level(logging.WARNING, logger="test.http_poll"):
            assert Counter(h.run_once()) == Counter(f"new {i}" for i in range(4))
        # Replaced: the digests of the commits listed again (the cursor's last second, old 4-6); those of
        # the commits never listed again stay as saved until they age out of `recent`.
        assert whole_digests_in(h) == whole_digests_of(api, version, {f"old {i}" for i in range(4)})
    assert not [r.getMessage() for r in caplog.records if "moved" in r.getMessage()]


def test_a_cursor_of_whole_digests_skips_its_commits_when_the_history_moved(tmp_path, caplog):
    with PuppetActivityAPI(tmp_path, tls=False) as api:
        h = Harness(api, tmp_path, services=["rbac"], page_size=4)
        for i in range(10):
            api.add("rbac", [f"old {i}"])
        assert Counter(h.run_once()) == Counter(f"old {i}" for i in range(10))
        as_saved_before_common(h, api, "v2")
        pruned = whole_digests_of(api, "v2", {"old 0", "old 1", "old 2"})
        api.prune_oldest("rbac", 3)  # every offset shifts: the cursor's page no longer begins with its last second
        api.add("rbac", ["new"])
        with caplog.at_level(logging.WARNING, logger="test.http_poll"):
            assert h.run_once() == ["new"]
    assert [r for r in caplog.records if "moved under the cursor" in r.getMessage()]  # the re-read did happen
    assert whole_digests_in(h) == pruned  # every commit the re-read met was replaced
