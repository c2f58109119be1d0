"""Attack (issue 12): Fluentd dies between storing a chunk and acking it, on a connection that had
already carried chunks. shipper must resend (at least once), and the resend is a duplicate in
Fluentd, so it must not be silent: the promise is "nothing lost or repeated silently". Before the
fix it was taken for a kept-alive connection the server had closed earlier (deny_keepalive) and
resent with a debug line only."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

from tests.peers.forward_server import ForwardServer
from tests.support import wait_until

SHIPPER = [sys.executable, "-m", "shipper.cli"]


def write_lines(path: Path, start: int, n: int) -> None:
    with open(path, "a") as f:
        for i in range(start, start + n):
            f.write(json.dumps({"@timestamp": "2026-01-02T03:04:05Z", "message": f"m{i}", "n": i}) + "\n")


def test_a_chunk_stored_but_not_acked_on_a_kept_alive_connection_is_resent_and_said(tmp_path: Path):
    peer = ForwardServer().start()
    write_lines(tmp_path / "audit.log", 0, 20)
    cfg = tmp_path / "shipper.yaml"
    cfg.write_text(f"""
state_dir: {tmp_path / 'state'}
shutdown_timeout: 5
sources:
  - {{name: audit, type: file, paths: ['{tmp_path / "audit.log"}'], parser: json, poll_interval: 0.2}}
outputs:
  - {{type: fluentd, port: {peer.port}, flush_interval: 0.1, batch_size: 10, backoff_base: 0.05, backoff_max: 0.3}}
""")
    log = tmp_path / "agent.log"
    with open(log, "wb") as err:
        agent = subprocess.Popen(SHIPPER + ["run", "-c", str(cfg)], stdout=subprocess.DEVNULL, stderr=err)
    try:
        ns = lambda: [r[2]["generic"]["n"] for r in peer.records]  # noqa: E731
        wait_until(lambda: len(ns()) >= 20, 60, "the first 20 events")
        assert peer.connections == 1, "the first chunks share one kept-alive connection"
        peer.drop_after_store(1)  # the next chunk is stored, then the connection closes without its ack
        write_lines(tmp_path / "audit.log", 20, 10)
        wait_until(lambda: set(ns()) == set(range(30)), 60, "all 30 events")
    finally:
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(60) == 0
        peer.stop()
    copies = Counter(ns())
    assert all(copies[n] == 1 for n in range(20)) and all(copies[n] == 2 for n in range(20, 30)), copies
    text = log.read_text()
    # The peer closes as in_forward does, with a reset ("connection reset before the ack"); a server
    # closing cleanly gives "connection closed before the ack".
    assert "level=warning" in text and "sent again" in text and "before the ack" in text, \
        f"a resend that duplicated 10 events was not said: {text}"
