"""A source's parser changed between a store and a kill -9 replay (session 9: 101 lines stored twice in
another data stream, no word). What was delivered after the last saved checkpoint is read again after a
kill -9 and parsed by the new parser: Elasticsearch files it under the new event.dataset's data stream,
where its `_id` meets no earlier document. Keeping the first data stream would need each batch's target
saved before it is sent (a second commit per batch); the agent names it instead, once, at the start
that first runs the new parser (docs/operations.md "Changing a source's parser"), and this test holds
it to exactly what that says: the batches stored with their commit held back (the checkpoint writer
stopped) are stored a second time in the new data stream, nothing else is; a SIGTERM stop before a
parser change repeats nothing; a start with the same parser says nothing."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from collections import Counter
from pathlib import Path

import pytest

from tests.peers.bulk_server import BulkServer
from tests.support import stop_process, wait_until, writer_pid
from tests.tail.attack_agent import free_port

pytestmark = pytest.mark.slow
CHANGED = "its parser changed since its checkpoint was saved"


def lines(first: int, count: int) -> str:
    return "".join(json.dumps({"@timestamp": "2026-01-01T00:00:00Z", "seq": i}) + "\n" for i in range(first, first + count))


class Agent:
    def __init__(self, tmp: Path, es: BulkServer) -> None:
        self.tmp, self.es = tmp, es
        self.log = tmp / "app.log"
        self.log.write_text("")
        self.port = free_port()
        self.cfg = tmp / "shipper.yaml"
        self.proc: subprocess.Popen | None = None
        self.runs = 0

    def start(self, parser: str) -> None:
        self.cfg.write_text(f"""
state_dir: {self.tmp}/state
http: {{listen: "127.0.0.1:{self.port}"}}
sources:
  - {{name: app, type: file, paths: ["{self.log}"], parser: {parser}, poll_interval: 0.2}}
outputs:
  - {{type: elasticsearch, hosts: ["{self.es.url}"], flush_interval: 0.2}}
""")
        self.runs += 1
        with open(self.tmp / f"agent{self.runs}.err", "wb") as err:
            self.proc = subprocess.Popen([sys.executable, "-m", "shipper.cli", "run", "-c", str(self.cfg)],
                                         stdout=subprocess.DEVNULL, stderr=err)

    def write(self, first: int, count: int) -> None:
        with open(self.log, "a") as f:
            f.write(lines(first, count))

    def committed(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/status", timeout=5) as r:
                return json.loads(r.read())["sources"]["app"]["in_flight_batches"] == 0
        except (OSError, ValueError, KeyError):
            return False

    def journal(self, run: int) -> str:
        return (self.tmp / f"agent{run}.err").read_text(errors="replace")


def seqs_by_stream(es: BulkServer) -> dict[str, Counter]:
    """Per data stream (its dataset part), how many times each line's seq is stored."""
    out: dict[str, Counter] = {}
    with es._lock:
        docs = list(es.docs.items())
    for (index, _id), doc in docs:
        original = (doc.get("event") or {}).get("original")
        seq = json.loads(original)["seq"] if original else (doc.get("generic") or {}).get("seq")
        out.setdefault(index.split("-")[1], Counter())[seq] += 1
    return out


def stored(es: BulkServer, stream: str) -> set:
    return set(seqs_by_stream(es).get(stream, ()))


def test_a_parser_changed_before_a_kill9_replay_is_named_and_repeats_only_the_replay(tmp_path):
    es = BulkServer(port=free_port()).start()
    agent = Agent(tmp_path, es)
    writer = None
    try:
        agent.write(0, 100)
        agent.start("json")
        wait_until(lambda: stored(es, "generic.json") >= set(range(100)), 90, "the first 100 lines stored")
        wait_until(agent.committed, 60, "their checkpoint saved")
        writer = writer_pid(agent.proc.pid)
        os.kill(writer, signal.SIGSTOP)  # the next commit does not return: the next batch is stored, not saved
        agent.write(100, 100)
        wait_until(lambda: stored(es, "generic.json") >= set(range(200)), 90, "100 more stored, their commit held")
        agent.proc.kill()
        agent.proc.wait(30)
        os.kill(writer, signal.SIGKILL)
        writer = None

        agent.start("databricks")  # changed while the agent was down: the replay is parsed by it
        wait_until(lambda: stored(es, "databricks.audit") >= set(range(100, 200)), 90, "the replay stored")
        wait_until(agent.committed, 60, "the replay's checkpoint saved")
        assert stop_process(agent.proc) == 0
        agent.write(200, 50)

        agent.start("json")  # after a SIGTERM stop: nothing read again
        wait_until(lambda: stored(es, "generic.json") >= set(range(250)), 90, "the next 50 stored")
        wait_until(agent.committed, 60, "their checkpoint saved")
        assert stop_process(agent.proc) == 0
        agent.start("json")  # the same parser: nothing said
        wait_until(agent.committed, 60, "started")
        assert stop_process(agent.proc) == 0
    finally:
        if writer is not None:
            os.kill(writer, signal.SIGKILL)
        if agent.proc is not None:
            stop_process(agent.proc)
        es.stop()
    by_stream = seqs_by_stream(es)
    assert sorted(by_stream) == ["databricks.audit", "generic.json"], sorted(by_stream)
    assert by_stream["generic.json"] == Counter(range(250)), "json's stream holds each line once"
    assert by_stream["databricks.audit"] == Counter(range(100, 200)), "only the replay is stored a second time"
    said = [[line for line in agent.journal(run).splitlines() if CHANGED in line] for run in (1, 2, 3, 4)]
    assert [len(s) for s in said] == [0, 1, 1, 0], said
    assert "json → databricks" in said[1][0] and "source app" in said[1][0], said[1][0]
    assert "databricks → json" in said[2][0], said[2][0]
