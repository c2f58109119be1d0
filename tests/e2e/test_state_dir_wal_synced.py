"""Commits are made durable within a second (checkpoint_db.SYNC_EVERY). SQLite's synchronous=NORMAL syncs its WAL
only at its checkpoints, so when the state_dir's ext4 failed (errors=remount-ro: what the kernel had not written
back is lost with it, as at a power cut) the commits of the last ~30 s went with it, and after the repair the
restart sent their lines again without a word (session 9: 100 of 100;
tests/e2e/test_state_dir_turns_read_only.py syncs by hand first for that reason). The writer now syncs the WAL
at most SYNC_EVERY after a commit: here the failure comes once strace has seen that sync, and nothing saved
before it is sent again (bench/README.md "Session 10: the state_dir's durability" has the cost decision)."""
from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.fs_faults import read_only_on_error_state
from tests.support import wait_until, writer_pid
from tests.tail.attack_agent import Agent, append_numbered

pytestmark = pytest.mark.slow


def in_flight(agent: Agent) -> int | None:
    return agent.get("/status")[1].get("sources", {}).get("app", {}).get("in_flight_batches")


def run_seqs(agent: Agent, run: int) -> list:
    with open(agent.tmp / f"out{run}.jsonl", "rb") as f:
        return [json.loads(line)["generic"]["seq"] for line in f if line.endswith(b"\n")]


def wal_synced_after(trace: Path, t: float) -> bool:
    """strace -ttt -y saw the writer fsync its WAL after time t (epoch seconds)."""
    for line in trace.read_text(errors="replace").splitlines():
        m = re.match(r"(?:\d+\s+)?(\d+\.\d+) f(?:data)?sync\(\d+<[^>]*-wal>\) = 0", line)
        if m and float(m.group(1)) > t:
            return True
    return False


def test_commits_survive_a_state_dir_that_fails_a_second_later(tmp_path):
    log = tmp_path / "app.log"
    trace = tmp_path / "writer.strace"
    agent = strace = None
    with read_only_on_error_state(tmp_path) as (fail, repair):
        try:
            append_numbered(log, 0, 100)
            agent = Agent(tmp_path, [log])
            agent.cfg.write_text(agent.cfg.read_text().replace("shutdown_timeout: 20", "shutdown_timeout: 3"))
            agent.start()
            assert agent.wait_delivered(range(100)), agent.errors()[-1500:]
            strace = subprocess.Popen(["strace", "-ttt", "-y", "-e", "trace=fsync,fdatasync", "-o", str(trace),
                                       "-p", str(writer_pid(agent.proc.pid))], stderr=subprocess.DEVNULL)
            time.sleep(0.5)  # (strace attaches)
            append_numbered(log, 100, 200)
            assert agent.wait_delivered(range(200)), agent.errors()[-1500:]
            wait_until(lambda: in_flight(agent) == 0, 60, "lines 100-199 saved")
            saved_at = time.time()
            wait_until(lambda: wal_synced_after(trace, saved_at), 60, "the writer's sync of the WAL after that commit")
            fail()  # no `sync` by hand: what the writer synced survives, what it did not is lost
            assert agent.stop(signal.SIGTERM) in (0, 1), agent.errors()[-1500:]
            repair()
            agent.start()
            append_numbered(log, 200, 210)
            assert agent.wait_delivered(range(210)), agent.errors()[-1500:]
            wait_until(lambda: in_flight(agent) == 0, 60, "everything saved")
            assert agent.stop() == 0, agent.errors()[-1500:]
        finally:
            if strace is not None:
                strace.terminate()
                strace.wait(30)
            if agent is not None and agent.proc is not None and agent.proc.poll() is None:
                agent.proc.kill()
                agent.proc.wait(60)
    again = [s for s in run_seqs(agent, 2) if s < 200]
    assert not again, f"{len(again)} lines saved a second before the failure sent again ({again[:3]}…)"
    assert sorted(set(run_seqs(agent, 1)) | set(run_seqs(agent, 2))) == list(range(210)), "lines lost"
