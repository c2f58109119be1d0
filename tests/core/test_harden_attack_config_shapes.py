"""Attack (issue 14): a config path that is a FIFO, and a config file just under the size bound made of
millions of tiny values. The promise: config loading is bounded and nothing hangs; a file it refuses
is exit 2 naming the file."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]


def _check(cfg: Path, timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "shipper.cli", "check", "-c", str(cfg)],
                          capture_output=True, timeout=timeout, cwd=str(REPO))


def test_config_that_is_a_fifo_is_refused_not_waited_on(tmp_path):
    fifo = tmp_path / "shipper.yaml"
    os.mkfifo(fifo)
    try:
        r = _check(fifo, timeout=30)
    finally:
        # Unblock a reader stuck in open() so no process outlives the test.
        def poke():
            try:
                fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
                os.close(fd)
            except OSError:
                pass
        threading.Thread(target=poke, daemon=True).start()
    err = r.stderr.decode()
    assert r.returncode == 2, err
    assert str(fifo) in err or "shipper.yaml" in err
    assert "regular file" in err, err


def test_millions_of_tiny_values_refused_quickly_and_small(tmp_path):
    cfg = tmp_path / "shipper.yaml"
    # ~4 MB: under the size bound, but two million YAML nodes.
    cfg.write_text("state_dir: /tmp\nx: [" + ",".join(["0"] * 2_000_000) + "]\n")
    p = subprocess.Popen(["/usr/bin/time", "-f", "maxrss_kb=%M", sys.executable, "-m", "shipper.cli",
                          "check", "-c", str(cfg)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         cwd=str(REPO))
    try:
        out, err = p.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        raise AssertionError("shipper check spent over 60 s on a 4 MB config")
    text = err.decode()
    rss = int(text.rsplit("maxrss_kb=", 1)[1].split()[0])
    assert p.returncode == 2, text
    assert "shipper.yaml" in text, text
    assert rss < 400_000, f"{rss} KB for a 4 MB config"
