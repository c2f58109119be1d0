"""Black-box attack 6 (operator): a reload (SIGHUP) in the agent's first second, before it has said it is
started: a config-management run that restarts then reloads, a `kill -HUP $(pidof …)` from a script, a
container runtime forwarding a HUP. The agent dies of the signal (exit -1/129) with no word in its
journal, having shipped nothing. Found: 8 of 8 SIGHUPs sent 0.05 to 1.0 s after the start killed it
(at 1.5 s it reloaded). Under systemd (Type=notify) `systemctl reload` waits for READY=1, so only a
direct kill reaches that window. The promise: SIGHUP reloads the config (README: `run`), and a
crash is a page at 3 a.m."""
from __future__ import annotations

import signal

import pytest

from tests.e2e.ops_attack import OpsAgent, app_to_stdout, counts
from tests.support import wait, wait_until

pytestmark = pytest.mark.slow


def catches_sighup(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as f:
            caught = next(int(line.split()[1], 16) for line in f if line.startswith("SigCgt:"))
    except (OSError, StopIteration):
        return False
    return bool(caught & (1 << (signal.SIGHUP - 1)))


def test_sighup_right_after_start_does_not_kill_the_agent(tmp_path):
    cfg = app_to_stdout(tmp_path, 50)
    agent = OpsAgent(tmp_path)
    agent.start(cfg)
    try:
        # The window under attack: the first second after the exec. The Python interpreter's own start
        # (before any of shipper's code runs, ~20 ms of CPU, longer on a loaded host) cannot catch a signal;
        # from the moment the process catches SIGHUP (its mask of caught signals, /proc) it must not die of it.
        wait_until(lambda: catches_sighup(agent.proc.pid) or agent.proc.poll() is not None, 30,
                   "the agent catching SIGHUP")
        agent.proc.send_signal(signal.SIGHUP)
        wait(lambda: len(agent.seqs()) >= 50 or agent.proc.poll() is not None, 90)
        assert agent.proc.poll() is None, \
            f"the agent died of the SIGHUP (exit {agent.proc.returncode}); its journal: {agent.errors()[-400:]!r}"
    finally:
        rc = agent.stop()
    missing, repeated = counts(agent.seqs(), range(1, 51))
    assert rc == 0 and not missing and not repeated
