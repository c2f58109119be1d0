"""`shipper status` while a reload waits for the batches a source's outputs are still sending: the source is
stopped where it had read, so its read positions said "lag 0" for bytes its Fluentd had not acknowledged
(nine batches, held by a server that reads nothing). The saved positions count them; the wait is named."""
from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest

from tests.peers.forward_server import ForwardServer
from tests.support import stop_process, wait_until
from tests.tail.attack_agent import free_port, numbered

pytestmark = pytest.mark.slow

SHIPPER = [sys.executable, "-m", "shipper.cli"]


def status(cfg) -> dict:
    r = subprocess.run(SHIPPER + ["status", "-c", str(cfg), "--json"], capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr.decode()
    return json.loads(r.stdout)["sources"][0]


def test_status_in_a_reload_wait_counts_the_batches_still_being_sent(tmp_path):
    fluentd = ForwardServer(port=free_port()).start()
    log = tmp_path / "app.log"
    log.write_text("".join(numbered(i) for i in range(300)))
    delivered_bytes = log.stat().st_size
    cfg = tmp_path / "shipper.yaml"
    http = free_port()

    def write_config(tags: str) -> None:
        cfg.write_text(f"""
state_dir: {tmp_path}/state
shutdown_timeout: 2
http: {{listen: "127.0.0.1:{http}"}}
sources:
  - {{name: app, type: file, paths: ["{log}"], parser: json, batch_size: 100, tags: [{tags}]}}
outputs:
  - {{type: stdout}}
  - {{type: fluentd, host: 127.0.0.1, port: {fluentd.port}, flush_interval: 0.2, ack_timeout: 1000}}
""")
    write_config("first")
    journal = tmp_path / "agent.err"
    with open(tmp_path / "out.jsonl", "wb") as o, open(journal, "wb") as e:
        agent = subprocess.Popen(SHIPPER + ["run", "-c", str(cfg)], stdout=o, stderr=e)
    try:
        # Everything delivered and saved (in the snapshot status reads, written every 5 s while the agent runs).
        wait_until(lambda: _saved_offset(tmp_path) == delivered_bytes, 60, "the checkpoint saved")
        fluentd.frozen.set()  # reads nothing more, acknowledges nothing
        with open(log, "a") as f:
            f.write("".join(numbered(i) for i in range(300, 1200)))
        wait_until(lambda: (tmp_path / "out.jsonl").read_bytes().count(b"\n") >= 1200, 60, "stdout has every line")
        write_config("second")  # the source changes: it waits for the batches its Fluentd holds
        agent.send_signal(signal.SIGHUP)
        wait_until(lambda: b"restarts once the batches" in journal.read_bytes(), 60, "the reload waiting")
        doc = status(cfg)
        text = subprocess.run(SHIPPER + ["status", "-c", str(cfg)], capture_output=True, timeout=60).stdout.decode()
    finally:
        fluentd.frozen.clear()
        stop_process(agent)
        fluentd.stop()
    size = log.stat().st_size
    assert [(f["offset"], f["lag"]) for f in doc["files"]] == [(delivered_bytes, size - delivered_bytes)], doc
    assert "lag 0" not in text, text
    assert doc.get("reload_wait"), doc
    assert f"restart after a reload pending: {doc['reload_wait']} batches" in text, text


def _saved_offset(tmp_path) -> int | None:
    try:
        rows = json.loads((tmp_path / "state" / "checkpoints.snapshot.json").read_text())["rows"]
    except (OSError, ValueError, KeyError):
        return None
    offsets = [v.get("offset") for _, _, v, _ in rows if isinstance(v, dict) and "offset" in v]
    return offsets[0] if len(offsets) == 1 else None
