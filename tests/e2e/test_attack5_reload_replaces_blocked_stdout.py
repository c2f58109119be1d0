"""Black-box attack 5: the stdout output writes into a pipe whose reader has paused (a consumer behind
`shipper run | …` that stalls, SIGSTOP here), so its write blocks in the middle of a batch; then a reload
changes the stdout output's block (here `fsync`), which replaces it. docs/operations.md: an output
replaced by a reload "loses the batches it held, which are read again for its replacement
(at-least-once)", and for stdout "no line is torn or written twice" after a cut write. Found: the
replaced output's blocked write finishes when the reader goes on, interleaved with its replacement's
writes on the same descriptor: 11-13 torn lines, 4-5 of 20,000 events lost (only their torn pieces
reached the pipe), ~1,000 written twice, and the old output thread died with a traceback (IndexError in the
ack tracker: it acknowledged a batch the reload had withdrawn; that part is fixed)."""
from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import urllib.request
from collections import Counter
from pathlib import Path

import pytest

from tests.support import wait_until

pytestmark = pytest.mark.slow

SHIPPER = [sys.executable, "-m", "shipper.cli"]
N = 20000


def config(tmp: Path, port: int, fsync: bool) -> str:
    return f"""
state_dir: {tmp / 'state'}
shutdown_timeout: 2
http: {{listen: "127.0.0.1:{port}"}}
sources:
  - {{name: audit, type: file, paths: ['{tmp / "audit.log"}'], parser: json, batch_size: 1000}}
outputs:
  - {{type: stdout, fsync: {str(fsync).lower()}}}
"""


def test_a_reload_replacing_a_blocked_stdout_tears_no_line_and_loses_nothing(tmp_path):
    with open(tmp_path / "audit.log", "w") as f:
        for i in range(N):
            f.write(json.dumps({"@timestamp": "2026-01-02T03:04:05Z", "message": "x" * 100, "n": i}) + "\n")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = tmp_path / "shipper.yaml"
    cfg.write_text(config(tmp_path, port, fsync=False))
    out, log = tmp_path / "out.jsonl", tmp_path / "agent.log"
    with open(out, "wb") as o:
        reader = subprocess.Popen(["cat"], stdin=subprocess.PIPE, stdout=o)
    with open(log, "wb") as e:
        agent = subprocess.Popen(SHIPPER + ["run", "-c", str(cfg)], stdout=reader.stdin, stderr=e)
    assert reader.stdin is not None
    reader.stdin.close()

    def pending() -> int:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=10) as answer:
                outputs = json.loads(answer.read())["outputs"]
        except OSError:
            return 0
        return sum(o.get("pending_batches") or 0 for o in (outputs.values() if isinstance(outputs, dict) else outputs))

    try:
        wait_until(lambda: out.stat().st_size > 100_000, 90, "the first lines")
        reader.send_signal(signal.SIGSTOP)  # the pipe fills; stdout's write blocks mid-batch
        wait_until(lambda: pending() >= 8, 90, "stdout to hold its 8 batches, blocked")
        cfg.write_text(config(tmp_path, port, fsync=True))
        agent.send_signal(signal.SIGHUP)
        wait_until(lambda: "msg=reloaded" in log.read_text(), 90, "the reload")
        # the replacement reads the batches again and blocks on the same full pipe: two writers waiting
        wait_until(lambda: pending() >= 2, 90, "the replacement stdout to hold batches, blocked too")
        reader.send_signal(signal.SIGCONT)
        counts = [-1]

        def settled() -> bool:  # nothing more written for 3 s
            counts.append(out.stat().st_size)
            return len(counts) > 60 and counts[-60] == counts[-1]

        wait_until(settled, 180, "stdout to settle")
    finally:
        reader.send_signal(signal.SIGCONT)
        agent.send_signal(signal.SIGTERM)
        agent.wait(60)
        reader.wait(60)
    torn, ns = [], []
    for line in out.read_bytes().split(b"\n"):
        if line:
            try:
                ns.append(json.loads(line)["generic"]["n"])
            except ValueError:
                torn.append(line[:80])
    missing = sorted(set(range(N)) - set(ns))
    assert not torn and not missing and "Traceback" not in log.read_text(), \
        f"{len(torn)} torn lines, {len(missing)} events lost {missing[:10]}, " \
        f"{sum(c - 1 for c in Counter(ns).values())} repeated; log: {log.read_text()[-1500:]}"
