"""Black-box attack 5: `shipper run | consumer`, and the consumer stalls (SIGSTOP here; a reader busy or
wedged), so stdout's write blocks in the middle of a batch; then the agent is stopped (SIGTERM). It waits
shutdown_timeout, exits 1 ("they are read again next start"), and the next start writes the batch again.
docs/operations.md, stdout: "no line is torn or written twice". Found: the write cut by the exit leaves
the consumer half a JSON line (a write to a pipe is atomic only up to PIPE_BUF, 4 KiB, and the batch went
in one), and nothing says so; the consumer reads a broken record, then the batch again."""
from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.support import wait_until

pytestmark = pytest.mark.slow

SHIPPER = [sys.executable, "-m", "shipper.cli"]
N = 20000


def start(cfg: Path, out: Path, log: Path) -> tuple[subprocess.Popen, subprocess.Popen]:
    with open(out, "ab") as o:
        reader = subprocess.Popen(["cat"], stdin=subprocess.PIPE, stdout=o)
    with open(log, "ab") as e:
        agent = subprocess.Popen(SHIPPER + ["run", "-c", str(cfg)], stdout=reader.stdin, stderr=e)
    assert reader.stdin is not None
    reader.stdin.close()
    return reader, agent


def test_a_stop_with_a_stalled_pipe_reader_leaves_no_torn_line(tmp_path):
    with open(tmp_path / "audit.log", "w") as f:
        for i in range(N):
            f.write(json.dumps({"@timestamp": "2026-01-02T03:04:05Z", "message": "x" * 100, "n": i}) + "\n")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = tmp_path / "shipper.yaml"
    cfg.write_text(f"""
state_dir: {tmp_path / 'state'}
shutdown_timeout: 2
http: {{listen: "127.0.0.1:{port}"}}
sources:
  - {{name: audit, type: file, paths: ['{tmp_path / "audit.log"}'], parser: json, batch_size: 1000}}
outputs:
  - {{type: stdout}}
""")
    out, log = tmp_path / "out.jsonl", tmp_path / "agent.log"

    def pending() -> int:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=10) as answer:
                outputs = json.loads(answer.read())["outputs"]
        except OSError:
            return 0
        return sum(o.get("pending_batches") or 0 for o in (outputs.values() if isinstance(outputs, dict) else outputs))

    reader, agent = start(cfg, out, log)
    try:
        wait_until(lambda: out.stat().st_size > 100_000, 90, "the first lines")
        reader.send_signal(signal.SIGSTOP)
        wait_until(lambda: pending() >= 8, 90, "stdout to hold its 8 batches, blocked")
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(120) == 1, "a stop with batches undelivered exits 1"
    finally:
        reader.send_signal(signal.SIGCONT)
        agent.kill()
        agent.wait(60)
        reader.wait(60)
    ends_whole = out.read_bytes().endswith(b"\n")
    reader, agent = start(cfg, out, log)  # the next start writes what was not delivered
    try:
        wait_until(lambda: b'"n":19999' in out.read_bytes()[-4000:] or b'"n": 19999' in out.read_bytes()[-4000:],
                   120, "the last event")
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait(60)
        reader.wait(60)
    torn = []
    for line in out.read_bytes().split(b"\n"):
        if line:
            try:
                json.loads(line)
            except ValueError:
                torn.append(line[:80])
    assert ends_whole and not torn, f"the stop left the reader {len(torn)} torn line(s): {torn[:2]}"
