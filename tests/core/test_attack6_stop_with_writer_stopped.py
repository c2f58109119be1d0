"""Black-box attack 6 (hostile host): the checkpoint writer process (`python … checkpoint_db.py`) is
stopped with SIGSTOP (a debugger, a cgroup freezer, a stuck NFS read look the same to the agent), lines are
appended, and the agent is asked to stop (SIGTERM). It does stop, exit 1, and names what is re-sent next
start, but only after shutdown_timeout + 6-8 s (10 s -> 18.0 s, 3 of 3 runs by hand; 20 s -> 26.1-26.2 s in this
test, 3 of 3), not within shutdown_timeout + 5 s as docs/operations.md promises ("a stop meanwhile ends within
`shutdown_timeout` + 5 s as always"); systemd gives up at 90 s, so with `shutdown_timeout: 85` the unit is
SIGKILLed. What held: after SIGCONT the old writer ends, the next start loses nothing."""
from __future__ import annotations

import os
import signal
import time

import pytest

from tests.support import writer_pid
from tests.tail.attack_agent import Agent, numbered

pytestmark = pytest.mark.slow

SHUTDOWN_TIMEOUT = 5


def gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_stop_with_the_checkpoint_writer_stopped_ends_within_shutdown_timeout_plus_5s(tmp_path):
    log = tmp_path / "app.log"
    log.write_text("".join(numbered(i) for i in range(1000)))
    agent = Agent(tmp_path, [log])
    # 5 s, not the Agent's 20: the overrun found is a fixed 6-8 s past it, and each second of it costs the suite
    text = agent.cfg.read_text()
    assert "shutdown_timeout: 20" in text
    agent.cfg.write_text(text.replace("shutdown_timeout: 20", f"shutdown_timeout: {SHUTDOWN_TIMEOUT}"))
    agent.start()
    writer = None
    try:
        assert agent.wait_delivered(range(1000)), agent.errors()
        writer = writer_pid(agent.proc.pid)
        os.kill(writer, signal.SIGSTOP)
        with open(log, "a") as f:
            f.write("".join(numbered(i) for i in range(1000, 2000)))
        time.sleep(3)
        started = time.monotonic()
        agent.proc.send_signal(signal.SIGTERM)
        code = agent.proc.wait(90)
        took = time.monotonic() - started
    finally:
        if writer is not None:
            os.kill(writer, signal.SIGCONT)
        if agent.proc.poll() is None:
            agent.proc.kill()
            agent.proc.wait(30)
    assert code == 1, agent.errors()[-600:]
    assert "stopping without the checkpoint commit in progress" in agent.errors()
    # what held: the old writer ends once let go, and the next start loses nothing
    deadline = time.monotonic() + 30
    while not gone(writer) and time.monotonic() < deadline:
        time.sleep(0.2)
    agent.start()
    assert agent.wait_delivered(range(2000)), agent.errors()[-600:]
    assert agent.stop() == 0
    assert took <= SHUTDOWN_TIMEOUT + 5, f"the stop took {took:.1f} s (shutdown_timeout {SHUTDOWN_TIMEOUT})"
