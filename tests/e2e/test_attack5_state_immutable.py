"""Black-box attack 5: the state_dir's files are made read-only under the running agent — `chattr +i` (an
operator "protecting" the state, a hardening script), which even root cannot write through. docs/operations.md
promises that a checkpoint that cannot be saved is retried with backoff, reading pauses, /health says why, and
the agent carries on by itself once it can write again. On ext4 (where /var/lib/shipper usually lives) the
agent instead dies at once: "Fatal Python error: Bus error" — SQLite's WAL index (`checkpoints.sqlite-shm`) is
mapped into memory, and a write to a mapped page of an immutable file is answered with SIGBUS (3 runs of 3 by
hand; with the database or the WAL immutable instead: 503, then recovery, nothing lost; on tmpfs no crash).
The state_dir here is a small ext4 filesystem image mounted through a loop device.
Fixed: the agent keeps the WAL index in its own memory (no -shm file, checkpoint_db._connect); the test now makes
the database and its WAL immutable, and asserts that no -shm file appears."""
from __future__ import annotations

import subprocess
import time

import pytest

from tests.fs_faults import ext4_image
from tests.tail.attack_agent import Agent, append_numbered

pytestmark = pytest.mark.slow


def test_state_made_immutable_under_the_agent_pauses_and_recovers(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    with ext4_image(state, tmp_path / "state.ext4"):
        shm = state / "checkpoints.sqlite-shm"
        files = [state / "checkpoints.sqlite", state / "checkpoints.sqlite-wal"]
        agent = None
        try:
            logs = tmp_path / "logs"
            logs.mkdir()
            log = logs / "app.log"
            append_numbered(log, 0, 100)
            agent = Agent(tmp_path, [log])
            agent.start()
            assert agent.wait_delivered(range(100))
            assert not shm.exists(), "the WAL index is mapped from a file again: chattr +i on it means SIGBUS"
            assert all(f.exists() for f in files)
            subprocess.run(["chattr", "+i", *map(str, files)], check=True)
            try:
                for k in range(10):  # batches whose checkpoints cannot be saved now
                    append_numbered(log, 100 + 20 * k, 120 + 20 * k)
                    time.sleep(0.3)
                time.sleep(3)
                alive_while_immutable = agent.proc.poll() is None
            finally:
                subprocess.run(["chattr", "-i", *map(str, files)], check=True)
            append_numbered(log, 300, 320)
            died = agent.errors()
            assert alive_while_immutable, "the agent died: " + died[died.find("Fatal Python error"):][:300]
            assert "checkpoint commit failed" in died, died[-2000:]  # said, retried: not a silent stall
            assert agent.wait_delivered(range(320), timeout=60)
        finally:
            if agent is not None and agent.proc is not None:
                if agent.proc.poll() is None:
                    agent.stop()
            subprocess.run(["chattr", "-i", *map(str, files)], check=False, capture_output=True)
    assert sorted(agent.seqs()) == list(range(320))
