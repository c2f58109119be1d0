"""The state_dir's filesystem turns read-only while the agent runs: ext4's `errors=remount-ro` after an I/O
error (the kernel does it under open files; a plain `mount -o remount,ro`, or a bind mount remounted `ro`,
is refused with "mount point is busy" while the checkpoint writer holds its database open for writing).

Found: the commit's error was named once and /health answered 503, but as SQLite's "disk I/O error"
only, nothing saying the filesystem had turned read-only, or that the agent cannot recover by itself
(an emergency read-only ext4 is not remounted read-write without an fsck). Now the error says so and
what to do. What held: reading pauses (no tight loop, one line in the log), a stop ends on time
(exit 1), a start meanwhile exits 2 naming it, and after the repair nothing is lost or sent twice."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest

from tests.fs_faults import read_only_on_error_state
from tests.support import wait_until
from tests.tail.attack_agent import Agent, append_numbered

pytestmark = pytest.mark.slow

SHUTDOWN_TIMEOUT = 3


def in_flight(agent: Agent) -> int | None:
    return agent.get("/status")[1].get("sources", {}).get("app", {}).get("in_flight_batches")


def run_seqs(agent: Agent, run: int) -> list:
    with open(agent.tmp / f"out{run}.jsonl", "rb") as f:
        return [json.loads(line)["generic"]["seq"] for line in f if line.endswith(b"\n")]


def test_a_state_dir_turned_read_only_is_named_once_and_nothing_is_lost(tmp_path):
    log = tmp_path / "app.log"
    agent = None
    with read_only_on_error_state(tmp_path) as (fail, repair):
        try:
            append_numbered(log, 0, 100)
            agent = Agent(tmp_path, [log])
            agent.cfg.write_text(agent.cfg.read_text().replace("shutdown_timeout: 20",
                                                               f"shutdown_timeout: {SHUTDOWN_TIMEOUT}"))
            agent.start()
            assert agent.wait_delivered(range(100)), agent.errors()[-1500:]
            wait_until(lambda: in_flight(agent) == 0, 60, "the first 100 lines' checkpoint saved")
            # Written back, as commits older than the kernel's writeback delay (~30 s) are: the commits still
            # in the page cache when ext4 aborts on its error are lost with it, like at a power cut (SQLite's
            # synchronous=NORMAL), and those lines are sent again after the repair (seen: 100 of 100).
            subprocess.run(["sync", "-f", str(tmp_path / "state" / "checkpoints.sqlite")], check=True)
            fail()
            with pytest.raises(OSError, match="Read-only file system"):
                (tmp_path / "state" / "probe").write_text("x")
            append_numbered(log, 100, 200)
            assert agent.wait_delivered(range(200)), agent.errors()[-1500:]  # delivered; its commit fails
            wait_until(lambda: agent.get("/health")[0] == 503, 60, "/health 503")
            doc = agent.get("/health")[1]
            assert "the state_dir's filesystem is read-only now" in doc.get("checkpoints", ""), doc
            append_numbered(log, 200, 300)
            time.sleep(8)  # the commit retried meanwhile (backoff), reading paused
            assert not [s for s in run_seqs(agent, 1) if s >= 200], "read on while checkpoints cannot be saved"
            err = agent.errors()
            assert err.count("checkpoint commit failed") == 1 and "Traceback" not in err, err[-1500:]
            assert "the state_dir's filesystem is read-only now" in err, err[-1500:]
            t0 = time.monotonic()
            agent.proc.send_signal(signal.SIGTERM)
            assert agent.proc.wait(SHUTDOWN_TIMEOUT + 5 + 10) == 1, agent.errors()[-1500:]
            assert time.monotonic() - t0 < SHUTDOWN_TIMEOUT + 5 + 1
            assert "stopped while checkpoints cannot be saved" in agent.errors(), agent.errors()[-1500:]
            r = subprocess.run([sys.executable, "-m", "shipper.cli", "run", "-c", str(agent.cfg)], capture_output=True,
                               timeout=120)
            assert r.returncode == 2 and b"cannot write to the state_dir (Read-only file system)" in r.stderr, r.stderr
            repair()
            agent.start()
            assert agent.wait_delivered(range(300)), agent.errors()[-1500:]
            wait_until(lambda: in_flight(agent) == 0, 60, "everything saved")
            assert agent.stop() == 0, agent.errors()[-1500:]
        finally:
            if agent is not None and agent.proc is not None and agent.proc.poll() is None:
                agent.proc.kill()
                agent.proc.wait(60)
    runs = [run_seqs(agent, i) for i in (1, 2)]
    for i, seqs in enumerate(runs, 1):
        assert not [k for k, v in Counter(seqs).items() if v > 1], f"run {i} sent lines twice"
    assert sorted(set(runs[0]) | set(runs[1])) == list(range(300)), "lines lost"
    assert not [s for s in runs[1] if s < 100], "lines saved before the error sent again"
