"""Issue 22, attack 3: a server ordering each second anew at every request and capping its pages at a size
that changes from one request to the next (1, 2, 3, 5 or none). The twins fix took three identical sweeps of
a second read in windows for a stable order; such a server repeats a sweep of a small second by chance, and
one commit was shipped twice (seed 213 of the attack's fuzzer, replayed here). Now only a sweep repeated at
every one of the 12 sweeps counts as a stable order."""
from __future__ import annotations

import random
from collections import Counter

from tests.peers.puppet_activity_api import PuppetActivityAPI
from tests.sources.test_http_poll_source import Harness, messages


class Hostile(PuppetActivityAPI):
    """Each answer: the commits in a new order (sorted by time, stably), a new cap on `limit`."""

    def __init__(self, *args, seed: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.rnd = random.Random(seed)

    def _answer(self, *args, **kwargs):
        with self.lock:
            kept = self.commits
            self.commits = kept[:]
            self.rnd.shuffle(self.commits)
            self.max_limit = self.rnd.choice([None, 1, 2, 3, 5])
        try:
            return super()._answer(*args, **kwargs)
        finally:
            with self.lock:
                self.commits = kept


def test_seconds_ordered_anew_under_changing_page_caps_ship_each_commit_once(tmp_path):
    seed = 213
    rnd = random.Random(seed)
    with Hostile(tmp_path, tls=False, seed=seed + 1) as api:
        h = Harness(api, tmp_path, services=["rbac"], page_size=rnd.randint(1, 5))
        expected = []
        n = 0
        for _step in range(rnd.randint(3, 8)):
            for _ in range(rnd.randint(0, 8)):
                same = rnd.random() < 0.7
                rnd.random()
                api.add("rbac", [f"m{n}"], same_second=same)
                expected.append(f"m{n}")
                n += 1
            if rnd.random() < 0.3 and api.commits:
                with api.lock:  # one commit taken out and put back at the end of its second
                    api.commits.append(api.commits.pop(rnd.randrange(len(api.commits))))
            h.cfg["page_size"] = rnd.randint(1, 5)
            h.run_once()
        h.run_once()
        h.run_once()
        got = Counter(messages(h.records))
        assert got == Counter(expected), (dict(Counter(expected) - got), dict(got - Counter(expected)))
