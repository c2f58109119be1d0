"""Rotations made while the agent is stopped (SIGTERM) or frozen (SIGSTOP), and what it ships after: lines 0-99 read
and committed first, 20 numbered lines after each rotation. Shared by attack 30's copy-among-rotations tests."""
from __future__ import annotations

import json
import os
import signal
import time

from tests.tail.attack_agent import Agent, logrotate_of


def _lines(lo: int, hi: int) -> bytes:
    return "".join(json.dumps({"seq": i, "pad": "x" * 40}) + "\n" for i in range(lo, hi)).encode()


def rotations_while_away(tmp_path, rotations: tuple, how: str) -> tuple[list, int, str]:
    """logrotate with each of `rotations` (directives) while the agent is "stopped" or "frozen", then started or
    thawed. Returns the sequence numbers delivered, how many lines were written (each still on disk) and the journal."""
    logs = tmp_path / "logs"
    logs.mkdir()
    live = logs / "app.log"

    def write(data: bytes) -> None:  # opened at each write: after a `create` rotation, into the new live file
        with open(live, "ab") as f:
            f.write(data)
    agent = Agent(tmp_path, [live])
    try:
        write(_lines(0, 100))
        agent.start()
        assert agent.wait_delivered(range(100)), agent.errors()
        time.sleep(2)  # read and committed
        if how == "stopped":
            agent.stop()
        else:
            os.kill(agent.proc.pid, signal.SIGSTOP)
        n = 100
        for directives in rotations:
            logrotate_of(tmp_path, live, directives, settle=0.05)()
            write(_lines(n, n + 20))
            n += 20
        if how == "stopped":
            agent.start()
        else:
            os.kill(agent.proc.pid, signal.SIGCONT)
        agent.wait_delivered(range(n), timeout=30)
        time.sleep(3)  # whatever else it reads or says
    finally:
        if agent.proc is not None and agent.proc.poll() is None:
            os.kill(agent.proc.pid, signal.SIGCONT)
            agent.stop()
    on_disk = set()
    for p in logs.iterdir():
        on_disk |= {json.loads(line)["seq"] for line in p.read_bytes().splitlines()}
    assert on_disk == set(range(n))
    return agent.seqs(), n, agent.errors()
