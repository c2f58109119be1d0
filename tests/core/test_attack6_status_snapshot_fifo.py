"""Black-box attack 6 (hostile operator on the state_dir): while the agent runs, its
`checkpoints.snapshot.json` is replaced by a FIFO (`rm …; mkfifo …`, a "clever" way to watch what the
agent writes). `shipper status` then blocks forever opening it: no output, no exit (killed by `timeout` after
20 s, 3 of 3 tries by hand, plus this test). The promise (docs/operations.md, DEVELOPERS.md): a snapshot that
cannot be read is said so (`saved positions: cannot be shown while the agent runs: its snapshot cannot be
read (…)`, as it does for garbage or a symlink to another file); nothing hangs."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from tests.tail.attack_agent import Agent, numbered


def test_status_does_not_hang_on_a_snapshot_replaced_by_a_fifo(tmp_path):
    log = tmp_path / "app.log"
    log.write_text("".join(numbered(i) for i in range(200)))
    agent = Agent(tmp_path, [log])
    agent.start()
    try:
        assert agent.wait_delivered(range(200)), agent.errors()
        snap = tmp_path / "state" / "checkpoints.snapshot.json"
        # wait until the agent has nothing new to write (its snapshot unchanged for 7 s), so the FIFO stays
        deadline = time.monotonic() + 60
        last, since = None, time.monotonic()
        while time.monotonic() < deadline:
            now = snap.stat().st_mtime_ns if snap.exists() else None
            if now != last:
                last, since = now, time.monotonic()
            elif last is not None and time.monotonic() - since > 7:
                break
            time.sleep(0.2)
        snap.unlink()
        os.mkfifo(snap)
        try:
            r = subprocess.run([sys.executable, "-m", "shipper.cli", "status", "-c", str(agent.cfg)],
                               capture_output=True, text=True, timeout=20)
        except subprocess.TimeoutExpired:
            pytest.fail("shipper status did not return within 20 s: it blocks on the FIFO")
        assert r.returncode == 0, r.stderr
        assert "snapshot cannot be read" in r.stdout, r.stdout
    finally:
        assert agent.stop() in (0, 1)
