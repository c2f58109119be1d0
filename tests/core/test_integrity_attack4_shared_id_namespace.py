"""Attack on `shipper verify` (issue 18): two documented features together. README: "Give two
sources the same namespace [`id_namespace`] when they read the same installation's events (dedupe
across them)": the same Posit Connect entry read by both gets one stable id, so the store keeps the
first copy and answers the second with 409 (duplicates avoided). With integrity on, each source
seals the entry into its own chain, and the second chain's links are the ones the store refused:
reading the store back, verify calls them missing. An honest trail of a documented set-up is "NOT
VERIFIED", and an auditor who learns to shrug at "missing" here shrugs at a real deletion too.
Against osmem-server (an independent OpenSearch reimplementation, as in tests/core/test_integrity.py)."""
from __future__ import annotations

import subprocess
import urllib.request
from pathlib import Path

import pytest

from tests.core.test_integrity import KEY, SHIPPER

SAMPLE = Path(__file__).resolve().parents[2] / "config" / "samples" / "posit_connect" / "rstudio-connect.audit.log"


@pytest.mark.xfail(strict=True, reason="an auditor is told events were removed ('missing') from an honest store: "
                   "two sources sharing an id_namespace (documented, to dedupe one installation read twice) "
                   "seal the same entries into two chains, and the store keeps only the first chain's copies")
def test_sources_sharing_an_id_namespace_leave_a_store_that_verifies(tmp_path):
    from osmem_server import OsmemServer

    (tmp_path / "key").write_text(KEY + "\n")
    (tmp_path / "key").chmod(0o600)
    for name in ("a", "b"):  # the same installation's audit log, read by two sources
        (tmp_path / f"{name}.log").write_bytes(SAMPLE.read_bytes())
    server = OsmemServer.start(addr="127.0.0.1:0", japanese=False)
    try:
        cfg = tmp_path / "shipper.yaml"
        cfg.write_text(f"""
state_dir: {tmp_path / 'state'}
integrity: {{key_file: key}}
sources:
  - {{name: a, type: file, paths: ['{tmp_path / 'a.log'}'], parser: posit_connect, id_namespace: posit1}}
  - {{name: b, type: file, paths: ['{tmp_path / 'b.log'}'], parser: posit_connect, id_namespace: posit1}}
outputs:
  - {{type: opensearch, name: store, hosts: ['{server.url}'], index: 'audit-{{dataset}}'}}
""")
        r = subprocess.run(SHIPPER + ["run", "--once", "-c", str(cfg)], capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr[-2000:]
        assert "duplicates avoided 0" not in r.stderr, r.stderr[-500:]  # the store refused the second copies
        with urllib.request.urlopen(urllib.request.Request(server.url + "/_refresh", method="POST")):
            pass
        kf = tmp_path / "verify.key"
        kf.write_text(KEY)
        kf.chmod(0o600)
        v = subprocess.run(SHIPPER + ["verify", "--key-file", str(kf), "-c", str(cfg), "--output", "store"],
                           capture_output=True, text=True, timeout=120)
        assert v.returncode == 0, v.stdout + v.stderr
    finally:
        server.close()
