"""Issue 22, attack 3: a second holding identical commits (twins: real, distinct events that look the same,
which the API may hold) and more commits than the server answers at once (it caps `limit`). Even with the
server's order stable, the source read that second in windows until as many *different* commits were seen
as the second holds, which twins never satisfy: 12 sweeps (118 requests), then a fallback by offset that
lost 2 of the 4 twins, warned only as "may be missed", with shipper_losses not counting them. Now twelve
identical sweeps of the second (a stable order) give its counts, twins included."""
from __future__ import annotations

from collections import Counter

from shipper import metrics
from tests.peers.puppet_activity_api import PuppetActivityAPI
from tests.sources.test_http_poll_source import Harness


def test_twins_in_a_second_larger_than_the_page_cap_are_each_shipped_once(tmp_path):
    with PuppetActivityAPI(tmp_path, tls=False) as api:
        api.max_limit = 2  # the server answers at most 2 commits a page, in a stable order
        twin = api.add("rbac", ["User Jean Jackson (973c0cee) logged in."])
        for _ in range(3):
            api.add_copy(twin)
        api.add("rbac", ["b"], same_second=True)
        api.add("rbac", ["c"], same_second=True)
        expected = ["User Jean Jackson (973c0cee) logged in."] * 4 + ["b", "c"]
        h = Harness(api, tmp_path, services=["rbac"], page_size=5)
        losses = metrics.REGISTRY.get_sample_value("shipper_losses_total", {"source": "pe"}) or 0.0
        got = h.run_once()
        api.add("rbac", ["d"])
        expected.append("d")
        got += h.run_once()
        got += h.run_once()
        lost = Counter(expected) - Counter(got)
        repeated = Counter(got) - Counter(expected)
        now = metrics.REGISTRY.get_sample_value("shipper_losses_total", {"source": "pe"}) or 0.0
        # Nothing lost or repeated; were anything lost, it would at least have to be counted.
        assert not repeated, repeated
        assert not lost or now > losses, f"lost {dict(lost)} without shipper_losses counting it"
        assert not lost, lost
