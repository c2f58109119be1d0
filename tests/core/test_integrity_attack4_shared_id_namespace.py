"""Attack on `shipper verify` (issue 18): two documented features together. README: "Give two
sources the same namespace [`id_namespace`] when they read the same installation's events (dedupe
across them)": the same Posit Connect entry read by both gets one stable id, so the store keeps the
first copy and answers the second with 409 (duplicates avoided). With integrity on, each source
seals the entry into its own chain, and the second chain's links are the ones the store refused:
reading the store back, verify called them missing. An honest trail of a documented set-up was "NOT
VERIFIED", and an auditor who learns to shrug at "missing" here shrugs at a real deletion too.

Decided (docs/evidence.md): with integrity on, sources sharing an id_namespace are a config error
(exit 2, naming the file, the line and the key): nothing in the store can tell a copy it refused from
a link deleted from it. Each source with its own namespace stores its own copies, and that store
verifies. Against osmem-server (an independent OpenSearch reimplementation, as in test_integrity.py)."""
from __future__ import annotations

import subprocess
import urllib.request
from pathlib import Path

from tests.core.test_integrity import KEY, SHIPPER

SAMPLE = Path(__file__).resolve().parents[2] / "config" / "samples" / "posit_connect" / "rstudio-connect.audit.log"


def _config(tmp_path: Path, url: str, namespaces: tuple[str, str]) -> Path:
    cfg = tmp_path / "shipper.yaml"
    cfg.write_text(f"""
state_dir: {tmp_path / 'state'}
integrity: {{key_file: key}}
sources:
  - {{name: a, type: file, paths: ['{tmp_path / 'a.log'}'], parser: posit_connect, id_namespace: {namespaces[0]}}}
  - {{name: b, type: file, paths: ['{tmp_path / 'b.log'}'], parser: posit_connect, id_namespace: {namespaces[1]}}}
outputs:
  - {{type: opensearch, name: store, hosts: ['{url}'], index: 'audit-{{dataset}}'}}
""")
    return cfg


def test_sources_sharing_an_id_namespace_are_refused_and_their_own_namespaces_verify(tmp_path):
    from osmem_server import OsmemServer

    (tmp_path / "key").write_text(KEY + "\n")
    (tmp_path / "key").chmod(0o600)
    for name in ("a", "b"):  # the same installation's audit log, read by two sources
        (tmp_path / f"{name}.log").write_bytes(SAMPLE.read_bytes())
    server = OsmemServer.start(addr="127.0.0.1:0", japanese=False)
    try:
        cfg = _config(tmp_path, server.url, ("posit1", "posit1"))
        r = subprocess.run(SHIPPER + ["run", "--once", "-c", str(cfg)], capture_output=True, text=True, timeout=300)
        assert r.returncode == 2, r.stderr[-2000:]
        assert f"{cfg}:6: " in r.stderr and "sources[1].id_namespace" in r.stderr, r.stderr
        assert "shares id_namespace 'posit1' with source 'a'" in r.stderr, r.stderr

        cfg = _config(tmp_path, server.url, ("posit1a", "posit1b"))
        r = subprocess.run(SHIPPER + ["run", "--once", "-c", str(cfg)], capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr[-2000:]
        with urllib.request.urlopen(urllib.request.Request(server.url + "/_refresh", method="POST")):
            pass
        kf = tmp_path / "verify.key"
        kf.write_text(KEY)
        kf.chmod(0o600)
        v = subprocess.run(SHIPPER + ["verify", "--key-file", str(kf), "-c", str(cfg), "--output", "store"],
                           capture_output=True, text=True, timeout=120)
        assert v.returncode == 0, v.stdout + v.stderr
        assert v.stdout.count(": intact") == 2, v.stdout  # each source's copies, each chain whole
    finally:
        server.close()
