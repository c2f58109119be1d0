"""Routing by `match` and backpressure: an output that is down holds back only the sources routed
to it, the file stops being read, and the agent's memory stays flat until the output is back."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import orjson
import pytest

from shipper.config import parse_config
from shipper.pipeline import Pipeline
from tests.peers.bulk_server import BulkServer
from tests.peers.forward_server import ForwardServer
from tests.support import stop_process, wait

pytestmark = pytest.mark.slow

VENV_BIN = os.path.dirname(sys.executable)


def write_lines(path, n: int, start: int = 0, pad: int = 0) -> None:
    with open(path, "ab") as f:
        f.write(b"".join(orjson.dumps({"@timestamp": "2024-05-01T12:00:00Z", "n": i, "user": f"u{i}",
                                       "pad": "x" * pad}) + b"\n" for i in range(start, start + n)))



def test_match_routes_and_each_source_waits_only_for_its_outputs(tmp_path):
    write_lines(tmp_path / "a.log", 50)
    write_lines(tmp_path / "b.log", 30, start=1000)
    fwd = ForwardServer().start()
    fport = fwd.port
    fwd.stop()  # Fluentd is down at start
    es = BulkServer().start()
    config = parse_config(f"""
state_dir: {tmp_path / 'state'}
sources:
  - {{name: a, type: file, paths: ['{tmp_path / 'a.log'}'], parser: json, tag: audit.a}}
  - {{name: b, type: file, paths: ['{tmp_path / 'b.log'}'], parser: json, tag: audit.b}}
outputs:
  - {{type: fluentd, port: {fport}, match: 'audit.a', backoff_base: 0.05, backoff_max: 0.3, flush_interval: 0.1}}
  - {{type: elasticsearch, hosts: ['{es.url}'], match: '*', flush_interval: 0.1}}
""", "routing.yaml")
    pipeline = Pipeline(config)
    pipeline.start()
    try:
        assert wait(lambda: len(es.docs) == 80, 60), len(es.docs)
        a, b = pipeline.runners["a"], pipeline.runners["b"]
        assert wait(lambda: b.tracker.in_flight() == 0, 30), "b goes only to Elasticsearch: all checkpointed"
        time.sleep(0.5)
        assert a.tracker.in_flight() > 0, "a's batches wait for Fluentd's ack before its checkpoint moves"
        seq_before = a.tracker.committed_seq
        assert fwd.records == []
        fwd.start()
        assert fwd.wait_for_records(50, 60)
        assert wait(lambda: a.tracker.in_flight() == 0, 30)
        assert a.tracker.committed_seq > seq_before
        assert {r[0] for r in fwd.records} == {"audit.a"}
        assert sorted(r[2]["generic"]["n"] for r in fwd.records) == list(range(50))
        ns = sorted(doc["generic"]["n"] for doc in es.docs.values())
        assert ns == list(range(50)) + list(range(1000, 1030))
    finally:
        pipeline.stop(10)
        fwd.stop()
        es.stop()


def _rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def _read_position(pid: int, path: str) -> int | None:
    """Where the agent's open descriptor of `path` stands (the kernel's own file position)."""
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") == path:
                with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                    return int(f.readline().split()[1])
        except OSError:
            continue
    return None


def test_output_down_stops_reading_and_memory_stays_flat(tmp_path):
    big = str(tmp_path / "big.log")
    total = 100_000
    write_lines(big, total, pad=200)
    size = os.path.getsize(big)
    fwd = ForwardServer().start()
    port = fwd.port
    fwd.stop()
    cfg = tmp_path / "shipper.yaml"
    cfg.write_text(f"""
state_dir: state
sources:
  - {{name: big, type: file, paths: ['{big}'], parser: json}}
outputs:
  - {{type: fluentd, port: {port}, backoff_base: 0.05, backoff_max: 0.5, max_in_flight_batches: 2,
      max_in_flight_bytes: 4194304}}
""")
    proc = subprocess.Popen([os.path.join(VENV_BIN, "shipper"), "run", "-c", str(cfg)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        assert wait(lambda: _read_position(proc.pid, big) is not None, 30), "the agent opens the file"
        time.sleep(3.0)  # the queue fills, then the source blocks
        rss1, pos1 = _rss_kib(proc.pid), _read_position(proc.pid, big)
        time.sleep(4.0)  # the outage goes on
        rss2, pos2 = _rss_kib(proc.pid), _read_position(proc.pid, big)
        assert pos1 == pos2, "reading stopped while the output is down"
        assert pos2 < size / 2, (pos2, size)
        assert rss2 - rss1 < 16 * 1024, f"RSS grew {rss2 - rss1} KiB during the outage"
        assert proc.poll() is None
        fwd.start()  # Fluentd is back: everything flows, nothing lost
        assert fwd.wait_for_records(total, 180), len(fwd.records)
        assert {r[2]["generic"]["n"] for r in fwd.records} == set(range(total))
        assert fwd.errors == []
    finally:
        stop_process(proc, 60)
        fwd.stop()


def test_queued_batches_are_coalesced_into_one_chunk_and_each_acked(tmp_path):
    import threading

    from shipper.acks import AckTracker
    from shipper.output_worker import OutputWorker
    from shipper.plugin import Batch, OutputContext
    from shipper_plugins.outputs.fluentd import FluentdOutput, FluentdOutputConfig

    fwd = ForwardServer().start()
    stop = threading.Event()
    out = FluentdOutput(FluentdOutputConfig(port=fwd.port, name="coalesce", batch_size=12, flush_interval=1),
                        OutputContext("coalesce", stop, str(tmp_path)))
    committed: list[dict] = []
    tracker = AckTracker(committed.append)
    worker = OutputWorker("coalesce", out, max_batches=16, max_bytes=1 << 20, stop=stop)
    try:
        for k in range(5):  # 5 batches of 3 events, queued before the worker runs
            seq = tracker.register(1, {"pos": k})
            ev = [{"@timestamp": "2024-05-01T12:00:00Z", "n": k * 3 + j} for j in range(3)]
            assert worker.put(Batch("s", "audit.x", ev, [f"{k}-{j}" for j in range(3)], 30), tracker, seq, threading.Event())
        worker.start()
        assert wait(lambda: len(fwd.records) == 15, 30)
        assert wait(lambda: tracker.in_flight() == 0, 30)
        # 12 events fit a chunk: batches 0-3 together, batch 4 alone after flush_interval at the latest.
        assert len(fwd.chunks) == 2
        assert [r[2]["n"] for r in fwd.records] == list(range(15))
        assert committed[-1] == {"pos": 4}
    finally:
        worker.close(timeout=5)
        fwd.stop()
