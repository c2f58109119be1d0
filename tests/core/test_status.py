"""`shipper status`: positions from the state dir, and the running daemon's view when it answers."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import orjson
import pytest

from tests.support import free_port

pytestmark = pytest.mark.slow  # (tens of seconds: `make test` hands it out with the slow files, early)

REPO = Path(__file__).resolve().parents[2]


def shipper(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "shipper.cli", *args], capture_output=True, text=True,
                          cwd=str(REPO), timeout=120, **kw)


def setup(tmp_path: Path, port: int) -> tuple[Path, Path]:
    log = tmp_path / "logs" / "audit.log"
    log.parent.mkdir()
    log.write_bytes(b"".join(orjson.dumps({"n": n, "user": "ann"}) + b"\n" for n in range(50)))
    cfg = tmp_path / "shipper.yaml"
    cfg.write_text(f"state_dir: {tmp_path}/state\nhttp: {{listen: \"127.0.0.1:{port}\"}}\n"
                   f"sources:\n  - {{name: app, type: file, paths: [{log}], parser: json, poll_interval: 0.1}}\n"
                   f"outputs:\n  - {{type: stdout}}\n")
    return cfg, log


def test_status_from_the_state_dir_without_daemon(tmp_path):
    cfg, log = setup(tmp_path, free_port())
    r = shipper("run", "--once", "-c", str(cfg))
    assert r.returncode == 0, r.stderr
    shipped_to = log.stat().st_size
    with open(log, "ab") as f:
        f.write(b'{"n": 50}\n{"n": 51}\n')
    size = log.stat().st_size

    r = shipper("status", "-c", str(cfg))
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "daemon: not reachable at 127.0.0.1:" in out and "(stopped?)" in out
    assert "source app (file, parser json, tag audit.app)" in out
    assert f"{log}: position {shipped_to} of {size} bytes, lag {size - shipped_to}" in out
    assert "last ack: " in out and "last ack: never" not in out
    assert "output stdout (stdout, match '*')" in out and "unknown (daemon not reachable)" in out

    doc = json.loads(shipper("status", "--json", "-c", str(cfg)).stdout)
    (src,) = doc["sources"]
    (f,) = src["files"]
    assert (f["path"], f["offset"], f["size"], f["lag"]) == (str(log), shipped_to, size, size - shipped_to)
    assert time.time() - src["last_ack"] < 120


def test_status_before_any_checkpoint(tmp_path):
    cfg, _ = setup(tmp_path, free_port())
    r = shipper("status", "-c", str(cfg))
    assert r.returncode == 0, r.stderr
    assert "no checkpoint yet" in r.stdout and "last ack: never" in r.stdout


def test_status_asks_the_running_daemon(tmp_path):
    port = free_port()
    cfg, log = setup(tmp_path, port)
    out = open(tmp_path / "out.jsonl", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "shipper.cli", "run", "-c", str(cfg)], stdout=out,
                            stderr=subprocess.DEVNULL, cwd=str(REPO))
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=5) as resp:
                    live = json.loads(resp.read())
                if live["sources"]["app"]["last_ack"] and live["outputs"]["stdout"]["last_success"]:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "daemon did not ship"
            time.sleep(0.1)
        r = shipper("status", "-c", str(cfg))
        assert r.returncode == 0, r.stderr
        assert f"daemon: running (pid {proc.pid}, http 127.0.0.1:{port})" in r.stdout
        assert f"{log}: position {log.stat().st_size} of {log.stat().st_size} bytes, lag 0" in r.stdout
        assert "last success: " in r.stdout and "errors: 0" in r.stdout
        assert "last success: never" not in r.stdout
        doc = json.loads(shipper("status", "--json", "-c", str(cfg)).stdout)
        assert doc["sources"][0]["running"] is True and doc["sources"][0]["files_from"] == "daemon"
        assert doc["outputs"][0]["healthy"] is True
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
        out.close()
