"""Attack (issue 12, round 2): the Fluentd output pointed at a port that is no Fluentd (here an HTTP
server: Fluentd's monitor_agent, Elasticsearch's 9200, a web app). `shipper run` names it at once (its
answers are no acks, 3 times in a row), but `shipper check --outputs` said "connected" and exited 0:
the check an operator runs first, to see what each output found, passed a server that can never take
an event. It must fail naming it, and still pass a real in_forward without storing anything there."""
from __future__ import annotations

import http.server
import subprocess
import sys
import threading
from pathlib import Path

from tests.peers.forward_server import ForwardServer

SHIPPER = [sys.executable, "-m", "shipper.cli"]


def check(tmp_path: Path, port: int) -> subprocess.CompletedProcess:
    (tmp_path / "audit.log").write_text("")
    cfg = tmp_path / "shipper.yaml"
    cfg.write_text(f"""
state_dir: {tmp_path / 'state'}
sources:
  - {{name: audit, type: file, paths: ['{tmp_path / "audit.log"}'], parser: json}}
outputs:
  - {{type: fluentd, host: 127.0.0.1, port: {port}, timeout: 3}}
""")
    return subprocess.run(SHIPPER + ["check", "--outputs", "-c", str(cfg)], capture_output=True, timeout=60)


def test_check_outputs_fails_for_a_port_that_is_no_fluentd(tmp_path: Path):
    web = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    try:
        r = check(tmp_path, web.server_address[1])
    finally:
        web.shutdown()
        web.server_close()
    out = r.stdout.decode()
    assert r.returncode == 1 and f"127.0.0.1:{web.server_address[1]}: FAILED" in out, out
    assert "in_forward" in out, out


def test_check_outputs_passes_a_plain_in_forward_and_stores_nothing(tmp_path: Path):
    peer = ForwardServer().start()
    try:
        r = check(tmp_path, peer.port)
    finally:
        peer.stop()
    out = r.stdout.decode()
    assert r.returncode == 0 and f"127.0.0.1:{peer.port}: connected" in out, out
    assert peer.records == [] and peer.errors == [], (peer.records, peer.errors)
