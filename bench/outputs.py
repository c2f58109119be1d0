#!/usr/bin/env python3
"""Throughput of the Fluentd and Elasticsearch outputs over loopback, by batch size, compared in the
same run with fluent-logger's plain `FluentSender.emit` loop and the client's `helpers.bulk`.

The receivers are the test peers (tests/peers/), each in its own process so they do not share the
sender's GIL. They are Python too, so the numbers compare senders against the same receiver; a real
Fluentd or Elasticsearch would move the ceiling.

    .venv/bin/python bench/outputs.py [--events 20000] [--sizes 100,500,2000]

MB/s counts the events as JSON (the same payload for every sender).
"""
from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import threading
import time
import uuid

import orjson

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from elasticsearch import Elasticsearch, helpers  # noqa: E402
from fluent.sender import FluentSender  # noqa: E402

from shipper.plugin import Batch, OutputContext  # noqa: E402
from shipper_plugins.outputs.elasticsearch import ElasticsearchOutput, ElasticsearchOutputConfig  # noqa: E402
from shipper_plugins.outputs.fluentd import FluentdOutput, FluentdOutputConfig  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_peer(module: str, port: int) -> subprocess.Popen:
    p = subprocess.Popen([sys.executable, "-m", module, "--port", str(port)], cwd=REPO,
                         stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": REPO})
    p.stdout.readline()  # "listening on ..."
    return p


def events(n: int) -> list[dict]:
    return [{"@timestamp": "2024-05-01T12:00:00.123Z", "ecs": {"version": "9.4.0"},
             "event": {"kind": "event", "module": "datameer", "dataset": "datameer.audit", "action": "login",
                       "category": ["authentication"], "type": ["start"], "outcome": "success"},
             "user": {"name": f"user{i % 50}"}, "source": {"ip": "10.0.0.1"}, "related": {"user": [f"user{i % 50}"]},
             "host": {"name": "bench"}, "agent": {"type": "shipper", "version": "0"},
             "datameer": {"id": i, "path": f"/workbooks/{i}", "extra": "x" * 120}} for i in range(n)]


def batches(evs: list[dict], size: int) -> list[Batch]:
    run = uuid.uuid4().hex[:8]
    return [Batch("bench", "audit.datameer", evs[i:i + size], [f"{run}-{j}" for j in range(i, i + len(evs[i:i + size]))],
                  0) for i in range(0, len(evs), size)]


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=20000)
    ap.add_argument("--sizes", default="100,500,2000")
    a = ap.parse_args()
    sizes = [int(s) for s in a.sizes.split(",")]
    evs = events(a.events)
    mb = sum(len(orjson.dumps(e)) for e in evs) / 1e6
    fport, eport = free_port(), free_port()
    peers = [start_peer("tests.peers.forward_server", fport), start_peer("tests.peers.bulk_server", eport)]
    rows: list[tuple[str, str, float]] = []
    ctx = OutputContext("bench", threading.Event(), "/tmp")
    try:
        sender = FluentSender("audit", host="127.0.0.1", port=fport, nanosecond_precision=True)
        rows.append(("fluent-logger FluentSender.emit loop (no acks)", "1", timed(lambda: [sender.emit("datameer", e) for e in evs])))
        sender.close()
        for size in sizes:
            out = FluentdOutput(FluentdOutputConfig(port=fport, batch_size=size, name="bench"), ctx)
            bs = batches(evs, size)
            rows.append(("shipper fluentd (PackedForward, acks)", str(size), timed(lambda: [out.send(b) for b in bs])))
            out.close()
            out = FluentdOutput(FluentdOutputConfig(port=fport, batch_size=size, name="bench", require_ack=False), ctx)
            rows.append(("shipper fluentd (PackedForward, no acks)", str(size), timed(lambda: [out.send(b) for b in bs])))
            out.close()
        url = f"http://127.0.0.1:{eport}"
        for size in sizes:
            client = Elasticsearch(url, http_compress=True)
            run = uuid.uuid4().hex[:8]
            actions = ({"_op_type": "create", "_index": "logs-datameer.audit-default", "_id": f"h{run}-{i}", "_source": e}
                       for i, e in enumerate(evs))
            rows.append(("elasticsearch.helpers.bulk (gzip)", str(size),
                         timed(lambda: helpers.bulk(client, actions, chunk_size=size, max_chunk_bytes=100 << 20))))
            client.close()
            out = ElasticsearchOutput(ElasticsearchOutputConfig(hosts=[url], batch_size=size, name="bench"), ctx)
            bs = batches(evs, size)
            rows.append(("shipper elasticsearch (orjson, gzip)", str(size), timed(lambda: [out.send(b) for b in bs])))
            out.close()
            out = ElasticsearchOutput(ElasticsearchOutputConfig(hosts=[url], batch_size=size, name="bench", compress=False), ctx)
            bs = batches(evs, size)
            rows.append(("shipper elasticsearch (orjson, no gzip)", str(size), timed(lambda: [out.send(b) for b in bs])))
            out.close()
    finally:
        for p in peers:
            p.terminate()
            p.wait()
    print(f"{a.events} events, {mb:.1f} MB as JSON, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}\n")
    print("| sender | batch | events/s | MB/s |")
    print("|---|---:|---:|---:|")
    for name, size, secs in rows:
        print(f"| {name} | {size} | {a.events / secs:,.0f} | {mb / secs:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
