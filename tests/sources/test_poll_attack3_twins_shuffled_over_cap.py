"""Issue 22, attack 3: identical commits (twins) in a second larger than the server's pages, from a server
ordering each answer anew. No read can tell a twin from the same commit shown again, so after 12 sweeps the
source reads on by offset, where a commit like one already passed counts as passed: twins are lost. That is
unavoidable here, but it was said only as "may be missed", once per service for the agent's life, and
shipper_losses did not count it (2 of 4 twins lost with pages capped at 2). Now the fallback counts the
commits it could not tell apart as a loss and names the second, each time."""
from __future__ import annotations

import logging
import random
from collections import Counter

from shipper import metrics
from tests.peers.puppet_activity_api import PuppetActivityAPI
from tests.sources.test_http_poll_source import Harness, _logged


class Shuffled(PuppetActivityAPI):
    rnd = random.Random(11)

    def _answer(self, *args, **kwargs):
        with self.lock:
            kept = self.commits
            self.commits = kept[:]
            self.rnd.shuffle(self.commits)
        try:
            return super()._answer(*args, **kwargs)
        finally:
            with self.lock:
                self.commits = kept


def _losses() -> float:
    return metrics.REGISTRY.get_sample_value("shipper_losses_total", {"source": "pe"}) or 0.0


def test_twins_a_shuffling_server_hides_are_counted_as_lost_and_named(tmp_path):
    with Shuffled(tmp_path, tls=False) as api:
        api.max_limit = 2
        h = Harness(api, tmp_path, services=["rbac"], page_size=5)
        lines = _logged(h)
        expected: list[str] = []
        for second in range(2):  # two such seconds: each one said and counted, not only the first
            twin = api.add("rbac", [f"twin {second}"])
            for _ in range(3):
                api.add_copy(twin)
            api.add("rbac", [f"b{second}"], same_second=True)
            api.add("rbac", [f"c{second}"], same_second=True)
            expected += [f"twin {second}"] * 4 + [f"b{second}", f"c{second}"]
        before = _losses()
        got = h.run_once()
        api.add("rbac", ["d"])
        expected.append("d")
        for _ in range(3):  # a second not seen whole is read on at the next poll
            got += h.run_once()
        lost = Counter(expected) - Counter(got)
        assert not Counter(got) - Counter(expected)  # nothing repeated
        assert {"b0", "c0", "b1", "c1", "d"} <= set(got)
        short = {m for m in lost}  # each is the twin of one second
        assert short <= {"twin 0", "twin 1"}
        assert _losses() - before >= len(short), (dict(lost), _losses() - before)
        assert lines.count(logging.WARNING, "could not be told apart") >= len(short)
