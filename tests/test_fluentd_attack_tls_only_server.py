"""Attack (issue 12): the operator forgot `tls: true` for an in_forward with `<transport tls>`.
`shipper run` can never deliver there (every chunk is answered with a reset, retried as an outage),
so `shipper check --outputs` must not call the server reachable: it must fail and say why."""
from __future__ import annotations

import json
import ssl
import subprocess
import sys
from pathlib import Path

import pytest
import trustme

from tests.peers.forward_server import ForwardServer

SHIPPER = [sys.executable, "-m", "shipper.cli"]


@pytest.mark.xfail(strict=True, reason="check --outputs sends nothing, and a TLS-only server says nothing to a "
                                       "client that sends nothing: the probe reports 'connected' (exit 0) while "
                                       "run resets on every chunk, retried as transient until --timeout")
def test_check_outputs_fails_for_a_tls_only_server_without_tls(tmp_path: Path):
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    trustme.CA().issue_cert("127.0.0.1").configure_cert(server_tls)
    peer = ForwardServer(tls=server_tls).start()
    try:
        (tmp_path / "audit.log").write_text(json.dumps({"message": "m0", "n": 0}) + "\n")
        cfg = tmp_path / "shipper.yaml"
        cfg.write_text(f"""
state_dir: {tmp_path / 'state'}
sources:
  - {{name: audit, type: file, paths: ['{tmp_path / "audit.log"}'], parser: json}}
outputs:
  - {{type: fluentd, host: 127.0.0.1, port: {peer.port}}}
""")
        r = subprocess.run(SHIPPER + ["check", "--outputs", "-c", str(cfg)], capture_output=True, timeout=60)
        out = r.stdout.decode()
        assert r.returncode == 1 and f"127.0.0.1:{peer.port}: FAILED" in out, out
    finally:
        peer.stop()
