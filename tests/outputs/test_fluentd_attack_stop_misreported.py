"""Attack (issue 12): SIGTERM while Fluentd holds a chunk without acking it (slow, stuck). At the end
of shutdown_timeout the agent closes the connection itself; that must not be reported as the server's
failure ("fluentd delivery failed ... [Errno 9] Bad file descriptor", the same reason in the
undelivered summary): the summary says the stop came while the chunk waited for its ack, which the server
may have stored (this one did: it is sent again at the next start), with the chunk's count of events, as every
possible repeat is named (issue 23: the count was missing)."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

from tests.peers.forward_server import ForwardServer
from tests.support import wait_until

SHIPPER = [sys.executable, "-m", "shipper.cli"]


def test_a_stop_while_the_server_holds_the_ack_is_not_reported_as_a_delivery_failure(tmp_path: Path):
    with open(tmp_path / "audit.log", "w") as f:
        for i in range(10):
            f.write(json.dumps({"@timestamp": "2026-01-02T03:04:05Z", "message": f"m{i}", "n": i}) + "\n")
    peer = ForwardServer(mode="delay_ack", ack_delay=60).start()
    cfg = tmp_path / "shipper.yaml"
    cfg.write_text(f"""
state_dir: {tmp_path / 'state'}
shutdown_timeout: 1
sources:
  - {{name: audit, type: file, paths: ['{tmp_path / "audit.log"}'], parser: json}}
outputs:
  - {{type: fluentd, port: {peer.port}, flush_interval: 0.1, ack_timeout: 50}}
""")
    log = tmp_path / "agent.log"
    try:
        with open(log, "wb") as err:
            agent = subprocess.Popen(SHIPPER + ["run", "-c", str(cfg)], stdout=subprocess.DEVNULL, stderr=err)
        wait_until(lambda: len(peer.records) >= 10, 60, "the chunk stored, its ack held back")
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(60) == 1
    finally:
        peer.stop()
    text = log.read_text()
    assert "stopped with batches undelivered" in text, text
    assert "Bad file descriptor" not in text and "fluentd delivery failed" not in text, text
    assert (f"127.0.0.1:{peer.port}: the stop came while the chunk of 10 events, written whole, waited for its ack: "
            "the server may have stored the chunk, and it is sent again at the next start (a possible repeat of 10 "
            "events)") in text, text
    # The close says it too, with the count, as every other possible repeat is named (issue 23).
    closed = [x for x in text.splitlines() if "fluentd output closed while a chunk" in x]
    assert len(closed) == 1 and "a chunk of 10 events" in closed[0] and "events=10" in closed[0], text
