"""Attack (issue 12): the operator forgot `tls: true` for an in_forward with `<transport tls>`.
A real Fluentd (1.18, by hand) resets every plain connection the moment the client's bytes arrive and
says nothing to a client that sends nothing; the peer does the same. Neither `shipper check --outputs`
nor `shipper run` may take that for a reachable server or an outage: both name it, once
("the server speaks TLS; set tls: true"), and with `tls: true` everything goes, once."""
from __future__ import annotations

import json
import ssl
import subprocess
import sys
from pathlib import Path

import pytest
import trustme

from tests.peers.forward_server import ForwardServer

pytestmark = pytest.mark.slow  # (tens of seconds: `make test` hands it out with the slow files, early)

SHIPPER = [sys.executable, "-m", "shipper.cli"]
KEY = "k3y"


def tls_peer(tmp_path: Path, **kw) -> ForwardServer:
    ca = trustme.CA()
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_tls)
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    return ForwardServer(tls=server_tls, **kw).start()


def config(tmp_path: Path, port: int, extra: str = "") -> Path:
    (tmp_path / "key").write_text(KEY)
    (tmp_path / "key").chmod(0o600)
    cfg = tmp_path / "shipper.yaml"
    cfg.write_text(f"""
state_dir: {tmp_path / 'state'}
sources:
  - {{name: audit, type: file, paths: ['{tmp_path / "audit.log"}'], parser: json}}
outputs:
  - {{type: fluentd, host: 127.0.0.1, port: {port}, timeout: 3, backoff_base: 0.05, backoff_max: 0.3{extra}}}
""")
    return cfg


def with_tls(cfg: Path, tmp_path: Path) -> None:
    text = cfg.read_text()
    assert text.endswith("}\n")
    cfg.write_text(text[:-2] + f", tls: true, tls_ca_file: {tmp_path / 'ca.pem'}}}\n")


def test_check_outputs_fails_for_a_tls_only_server_without_tls(tmp_path: Path):
    peer = tls_peer(tmp_path)
    try:
        (tmp_path / "audit.log").write_text(json.dumps({"message": "m0", "n": 0}) + "\n")
        cfg = config(tmp_path, peer.port)
        r = subprocess.run(SHIPPER + ["check", "--outputs", "-c", str(cfg)], capture_output=True, timeout=60)
        out = r.stdout.decode()
        assert r.returncode == 1 and f"127.0.0.1:{peer.port}: FAILED: the server speaks TLS; set tls: true" in out, out
        with_tls(cfg, tmp_path)
        r = subprocess.run(SHIPPER + ["check", "--outputs", "-c", str(cfg)], capture_output=True, timeout=60)
        assert r.returncode == 0 and "certificate verified" in r.stdout.decode(), r.stdout.decode()
        assert peer.records == []
    finally:
        peer.stop()


@pytest.mark.parametrize("secured", [False, True], ids=["plain", "shared_key"])
def test_run_once_names_a_tls_only_server_once_and_delivers_with_tls(tmp_path: Path, secured: bool):
    # With a shared key the client waits for a HELO the TLS server never sends (it waits for a
    # ClientHello); without, its first chunk is reset. Both are the same mistake.
    peer = tls_peer(tmp_path, shared_key=KEY if secured else None)
    key = f", shared_key_file: {tmp_path / 'key'}" if secured else ""
    try:
        with open(tmp_path / "audit.log", "w") as f:
            for i in range(30):
                f.write(json.dumps({"message": f"m{i}", "n": i}) + "\n")
        cfg = config(tmp_path, peer.port, key)
        r = subprocess.run(SHIPPER + ["run", "--once", "--timeout", "120", "-c", str(cfg)],
                           capture_output=True, timeout=180)
        err = r.stderr.decode()
        assert r.returncode == 1, err
        assert err.count("the server speaks TLS; set tls: true") >= 1 and "refused" in err, err
        assert "timed out" not in err.lower(), "named as a refusal, not left to --timeout"
        assert peer.records == []
        with_tls(cfg, tmp_path)
        r = subprocess.run(SHIPPER + ["run", "--once", "-c", str(cfg)], capture_output=True, timeout=180)
        assert r.returncode == 0, r.stderr.decode()
        assert sorted(rec[2]["generic"]["n"] for rec in peer.records) == list(range(30))
    finally:
        peer.stop()


def test_tls_against_a_plain_server_is_named_by_run_and_check(tmp_path: Path):
    """The reverse: `tls: true` for a plain in_forward. It reads the ClientHello as broken chunks and
    waits for more (Fluentd 1.18.0, by hand), so the handshake times out; an empty chunk sent without
    TLS, which in_forward acks and stores nothing of, tells it apart from a server that is down."""
    peer = ForwardServer().start()
    try:
        with open(tmp_path / "audit.log", "w") as f:
            for i in range(10):
                f.write(json.dumps({"message": f"m{i}", "n": i}) + "\n")
        (tmp_path / "ca.pem").write_bytes(trustme.CA().cert_pem.bytes())
        cfg = config(tmp_path, peer.port)
        with_tls(cfg, tmp_path)
        r = subprocess.run(SHIPPER + ["run", "--once", "--timeout", "120", "-c", str(cfg)],
                           capture_output=True, timeout=180)
        err = r.stderr.decode()
        assert r.returncode == 1 and "the server speaks plain Forward, not TLS: remove tls: true" in err, err
        assert "timeout after" not in err, "named as a refusal, not left to --timeout"
        r = subprocess.run(SHIPPER + ["check", "--outputs", "-c", str(cfg)], capture_output=True, timeout=60)
        out = r.stdout.decode()
        assert r.returncode == 1 and f"127.0.0.1:{peer.port}: FAILED: the server speaks plain Forward" in out, out
        assert peer.records == [], "the probes' empty chunks stored nothing"
    finally:
        peer.stop()
