"""Black-box attack 11: http_poll → Elasticsearch. The agent is killed (kill -9: a crash, an OOM kill) after
Elasticsearch stored a batch but before the agent saw the answer, so the batch is not checkpointed. While it is
down, the activity service's retention prunes its oldest commits. Promised (README, Known limits): a replay after
kill -9 repeats the batches in flight, and "Elasticsearch absorbs them as 409s". Found: the replayed commits have
moved in the listing, and their `_id` follows the offset, not the commit: each replayed commit gets the `_id` of
another; Elasticsearch answers 409, the output sees other content there and stores it under a content id ("the
product numbered its records again … not counted as duplicates"): 7 of 7 replayed commits are stored twice after
pruning 3. (The run also calls the 3 pruned commits "lost", though Elasticsearch stored them before the kill: a kill
-9 notes nothing, so that is the cautious reading.) Without the pruning the replay is absorbed as 409s.
Fixed by 501026f (an event's key is its commit's digest and rank among identical commits)."""
from __future__ import annotations

import signal
import subprocess
import threading
from collections import Counter

import pytest

from tests.e2e.poll_setup import SHIPPER, write_poll_config
from tests.peers.bulk_server import BulkServer
from tests.peers.puppet_activity_api import PuppetActivityAPI
from tests.support import wait, wait_until

pytestmark = pytest.mark.slow


class StoresThenHangs(BulkServer):
    """Stores the documents of a bulk request, then keeps the answer back while `hang` is set (an Elasticsearch
    whose answer is slow to come back: the agent is killed meanwhile)."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.hang = threading.Event()
        self.release = threading.Event()

    def bulk(self, body, default_index):
        answer = super().bulk(body, default_index)
        if self.hang.is_set():
            self.release.wait(60)
        return answer


@pytest.mark.parametrize("pruned", [0, 3])
def test_a_replay_after_kill_9_is_absorbed_by_elasticsearch(tmp_path, pruned):
    es = StoresThenHangs(flavour="es9").start()
    agent = None
    try:
        with PuppetActivityAPI(tmp_path, tls=False) as api:
            cfg = write_poll_config(tmp_path, api, [f"{{type: elasticsearch, name: es, hosts: ['{es.url}'], index: "
                                                    "'audit-pe', backoff_base: 0.05, request_timeout: 120}"],
                                    page_size=20, batch_size=None)
            for i in range(10):
                api.add("rbac", [f"change {i}"])
            es.hang.set()
            with open(tmp_path / "agent1.log", "wb") as log1:
                agent = subprocess.Popen(SHIPPER + ["run", "-c", str(cfg)], stdout=subprocess.DEVNULL, stderr=log1)
                wait_until(lambda: len(es.docs) >= 10, 90, "Elasticsearch to store the 10 commits")
                agent.send_signal(signal.SIGKILL)  # stored, not acknowledged to the agent, not checkpointed
                agent.wait(30)
            es.hang.clear()
            es.release.set()
            api.prune_oldest("rbac", pruned)  # retention runs while the agent is down
            for i in range(10, 12):
                api.add("rbac", [f"change {i}"])
            with open(tmp_path / "agent2.log", "wb") as log2:
                agent = subprocess.Popen(SHIPPER + ["run", "-c", str(cfg)], stdout=subprocess.DEVNULL, stderr=log2)
                wait_until(lambda: {"change 10", "change 11"} <= {d["message"] for d in es.docs.values()}, 90,
                           "the new commits in Elasticsearch")
                wait(lambda: False, 2)  # let any late repeat arrive
    finally:
        if agent is not None and agent.poll() is None:
            agent.send_signal(signal.SIGTERM)
            agent.wait(60)
        es.release.set()
        es.stop()
    stored = Counter(d["message"] for d in es.docs.values())
    twice = sorted(m for m, n in stored.items() if n > 1)
    assert set(stored) == {f"change {i}" for i in range(12)}
    assert not twice, f"{len(twice)} commits stored twice by the replay: {twice} " \
                      f"({(tmp_path / 'agent2.log').read_text().count('level=warning')} warnings)"
