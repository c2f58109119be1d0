"""Attack (issue 12): shipper has `shared_key_file`, the in_forward has no `<security>` section, so it
never sends HELO and the handshake can never start. Each attempt waited `timeout` for a HELO and was
retried as an outage, so `run --once` ran into --timeout without saying what was wrong. Like a
server that never acks, a server that never greets, 3 times in a row, is a refusal named at once."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from tests.peers.forward_server import ForwardServer

SHIPPER = [sys.executable, "-m", "shipper.cli"]


def test_a_shared_key_for_a_server_without_security_is_named_and_ends_once(tmp_path: Path):
    with open(tmp_path / "audit.log", "w") as f:
        for i in range(10):
            f.write(json.dumps({"@timestamp": "2026-01-02T03:04:05Z", "message": f"m{i}", "n": i}) + "\n")
    (tmp_path / "key").write_text("the-key\n")
    os.chmod(tmp_path / "key", 0o600)
    peer = ForwardServer().start()  # in_forward without <security>: waits for the client to speak
    try:
        cfg = tmp_path / "shipper.yaml"
        cfg.write_text(f"""
state_dir: {tmp_path / 'state'}
shutdown_timeout: 2
sources:
  - {{name: audit, type: file, paths: ['{tmp_path / "audit.log"}'], parser: json}}
outputs:
  - {{type: fluentd, port: {peer.port}, shared_key_file: key, timeout: 2, backoff_base: 0.05, backoff_max: 0.3,
     flush_interval: 0.1}}
""")
        t0 = time.monotonic()
        r = subprocess.run(SHIPPER + ["run", "--once", "--timeout", "40", "-c", str(cfg)], capture_output=True,
                           timeout=120)
        took = time.monotonic() - t0
        err = r.stderr.decode()
        assert r.returncode == 1, err
        assert "refused by output fluentd" in err and "HELO" in err and "shared_key_file" in err, err
        assert "timeout after 40s" not in err and took < 35, f"{took:.0f}s: {err}"
        assert peer.records == [] and "the-key" not in err
    finally:
        peer.stop()
