"""End to end: `shipper run` (a real subprocess) tails a file into Fluentd and Elasticsearch peers;
the peers are killed and restarted mid-stream, shipper is killed with SIGKILL and restarted.
Elasticsearch ends with every event exactly once (rejected ones in the dead-letter file),
Fluentd with every event at least once."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter

import orjson
import pytest

from tests.peers.bulk_server import BulkServer
from tests.peers.forward_server import ForwardServer
from tests.support import stop_process, wait

pytestmark = pytest.mark.slow

VENV_BIN = os.path.dirname(sys.executable)


def write_lines(path, start: int, n: int) -> None:
    with open(path, "ab") as f:
        for i in range(start, start + n, 100):  # written in pieces, as a live log grows
            f.write(b"".join(orjson.dumps({"@timestamp": "2024-05-01T12:00:00Z", "n": k, "user": f"u{k}"}) + b"\n"
                             for k in range(i, min(i + 100, start + n))))
            f.flush()



def start_agent(cfg, log):
    return subprocess.Popen([os.path.join(VENV_BIN, "shipper"), "run", "-c", str(cfg)],
                            stdout=subprocess.DEVNULL, stderr=log)


@pytest.mark.parametrize("flavour", ["es7", "es8", "es9", "opensearch"])  # the bulk peer as each server
def test_peers_and_agent_killed_mid_stream(tmp_path, flavour):
    log_file = tmp_path / "audit.log"
    fwd, es = ForwardServer().start(), BulkServer(flavour=flavour).start()
    es.reject_when = lambda doc: doc.get("generic", {}).get("n", 1) % 97 == 0  # a "mapping error"
    es.transient_when = lambda doc: 429 if doc.get("generic", {}).get("n", 1) % 13 == 0 else None  # "too many requests"
    cfg = tmp_path / "shipper.yaml"
    cfg.write_text(f"""
state_dir: state
shutdown_timeout: 5
sources:
  - {{name: audit, type: file, paths: ['{log_file}'], parser: json, poll_interval: 0.2}}
outputs:
  - {{type: fluentd, port: {fwd.port}, ack_timeout: 2, backoff_base: 0.05, backoff_max: 0.5,
      flush_interval: 0.2, batch_size: 200}}
  - {{type: elasticsearch, hosts: ['{es.url}'], backoff_base: 0.05, backoff_max: 0.5, flush_interval: 0.2,
      batch_size: 200, request_timeout: 5}}
""")
    agent_log = open(tmp_path / "agent.log", "wb")
    total = 3000
    write_lines(log_file, 0, 1000)
    agent = start_agent(cfg, agent_log)
    try:
        assert wait(lambda: len(es.docs) >= 300, 60), "shipping started"
        # Both peers die mid-stream; more is written while they are down; they come back.
        fwd.stop()
        es.stop()
        write_lines(log_file, 1000, 1000)
        time.sleep(1.0)
        es.fail_requests(2, 503)
        fwd.drop_next(1)
        fwd.start()
        es.start()
        assert wait(lambda: len(es.docs) >= 1200, 60)
        # The agent dies without a chance to save anything, while batches are in flight.
        write_lines(log_file, 2000, 1000)
        agent.send_signal(signal.SIGKILL)
        agent.wait(30)
        agent = start_agent(cfg, agent_log)
        expected = [n for n in range(total) if n % 97]
        assert wait(lambda: len(es.docs) >= len(expected), 120), len(es.docs)
        assert wait(lambda: {r[2]["generic"]["n"] for r in fwd.records} >= set(range(total)), 120)
        time.sleep(1.0)  # anything still in flight would show up as a duplicate now
    finally:
        stop_process(agent, 60)
        fwd.stop()
        es.stop()
        agent_log.close()

    es_ns = Counter(doc["generic"]["n"] for doc in es.docs.values())
    assert sorted(es_ns) == expected and max(es_ns.values()) == 1, "Elasticsearch: every event exactly once"
    assert es.conflicts > 0, "the replay after SIGKILL was answered with 409s, not stored again"
    assert all(es.item_attempts[doc_id] >= 2 for (_, doc_id), doc in es.docs.items() if doc["generic"]["n"] % 13 == 0)
    fwd_ns = Counter(r[2]["generic"]["n"] for r in fwd.records)
    assert set(fwd_ns) == set(range(total)), "Fluentd: every event at least once"
    dead = [json.loads(l) for l in (tmp_path / "state" / "dead_letter" / "elasticsearch.ndjson").read_text().splitlines()]
    assert {d["event"]["generic"]["n"] for d in dead} == {n for n in range(total) if n % 97 == 0}
    assert all(d["status"] == 400 and d["error"]["type"] for d in dead)
    assert fwd.errors == [] and es.errors == [] and es.media_type_refusals == 0
