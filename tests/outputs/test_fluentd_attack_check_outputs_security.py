"""Attack (issue 12): `shipper check --outputs` must say why an output cannot deliver. An in_forward
with `<security>` greets every connection with HELO and stores nothing from a client that does not
answer it; `shipper run` refuses such a server ("set shared_key_file"), so the probe of a config
without a shared key must not report it as reachable ("connected", exit 0)."""
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


@pytest.mark.parametrize("tls", [False, True], ids=["tcp", "tls"])
def test_check_outputs_fails_for_a_server_that_wants_a_shared_key_we_do_not_have(tmp_path: Path, tls: bool):
    ca = trustme.CA()
    server_tls = None
    if tls:
        server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1").configure_cert(server_tls)
        ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    peer = ForwardServer(shared_key="the-real-key", tls=server_tls).start()
    try:
        (tmp_path / "audit.log").write_text(json.dumps({"message": "m0", "n": 0}) + "\n")
        cfg = tmp_path / "shipper.yaml"
        cfg.write_text(f"""
state_dir: {tmp_path / 'state'}
sources:
  - {{name: audit, type: file, paths: ['{tmp_path / "audit.log"}'], parser: json}}
outputs:
  - {{type: fluentd, host: 127.0.0.1, port: {peer.port}{", tls: true, tls_ca_file: ca.pem" if tls else ""}}}
""")
        r = subprocess.run(SHIPPER + ["check", "--outputs", "-c", str(cfg)], capture_output=True, timeout=60)
        out = r.stdout.decode()
        assert r.returncode == 1, out + r.stderr.decode()
        assert f"127.0.0.1:{peer.port}: FAILED" in out and "shared_key_file" in out, out
        assert peer.records == [], "the probe sends nothing"
    finally:
        peer.stop()
