"""Black-box attack 7 (state and stops): the parse workers' forkserver (a child of the agent, `python -B -c
from multiprocessing.forkserver import main…`, kept between backlogs "so the next backlog gets its workers
quickly") is stopped with SIGSTOP, and the agent is then asked to stop. docs/operations.md: a stop ends within
`shutdown_timeout` + 5 s.

Found (by hand, `parse_workers: 2`, a 400,000-line backlog shipped whole before the SIGTERM): the stop takes
14.0-14.2 s with shutdown_timeout 5 (6 of 6 runs with the forkserver itself stopped); in this test (200,000
lines) 10.1 s with shutdown_timeout 1, 12.2 s with 3, 14.1 s with 5, 17.3 s with 10, and 17.2 s with 20 by hand:
about shutdown_timeout + 9 s, capped near 17 s, so any shutdown_timeout below ~12 s is overrun by up to ~4 s.
The journal says `the parse workers' forkserver did not end in 5 s (stopped?): killed`. Exit 0, nothing lost
or repeated (what held)."""
from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from tests.support import wait_until
from tests.tail.attack_agent import Agent, exactly_once, numbered

TOTAL = 200_000
SHUTDOWN_TIMEOUT = 1
LOADED = 2  # seconds more for a loaded 2-core machine (the overrun is ~4 s)


def descendants(pid: int) -> list[tuple[int, str, bytes]]:
    """(pid, comm, cmdline) of every process below pid, whichever thread started it."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            tids = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                with open(f"/proc/{p}/task/{tid}/children") as f:
                    kids = [int(k) for k in f.read().split()]
            except OSError:
                continue
            for k in kids:
                try:
                    with open(f"/proc/{k}/comm") as f:
                        comm = f.read().strip()
                    with open(f"/proc/{k}/cmdline", "rb") as f:
                        cmd = f.read()
                except OSError:
                    continue
                out.append((k, comm, cmd))
                todo.append(k)
    return out


def forkserver(agent_pid: int) -> int | None:
    """The forkserver: the process running multiprocessing.forkserver that is no worker (its workers are its
    children, renamed shipper-parse)."""
    procs = descendants(agent_pid)
    if not any(comm == "shipper-parse" for _, comm, _ in procs):
        return None
    for pid, comm, cmd in procs:
        if b"multiprocessing.forkserver" in cmd and comm != "shipper-parse":
            with open(f"/proc/{pid}/stat") as f:
                parent = int(f.read().split(")")[-1].split()[1])
            if parent == agent_pid:
                return pid
    return None


@pytest.mark.xfail(strict=True, reason="a stopped forkserver makes the stop wait a fixed ~14 s (5 s for the "
                   "forkserver and more), past shutdown_timeout + 5 s for any shutdown_timeout below ~9 s")
def test_stop_with_the_forkserver_stopped_ends_within_shutdown_timeout_plus_5s(tmp_path):
    log = tmp_path / "app.log"
    with open(log, "w") as f:
        for i in range(0, TOTAL, 10_000):
            f.write("".join(numbered(j) for j in range(i, i + 10_000)))
    agent = Agent(tmp_path, [log], source_extra="    parse_workers: 2")
    agent.cfg.write_text(agent.cfg.read_text().replace("shutdown_timeout: 20", f"shutdown_timeout: {SHUTDOWN_TIMEOUT}"))
    agent.start()
    victim = None
    try:
        wait_until(lambda: forkserver(agent.proc.pid), 60, "the parse workers and their forkserver")
        victim = forkserver(agent.proc.pid)
        os.kill(victim, signal.SIGSTOP)
        assert agent.wait_delivered(range(TOTAL), 120), agent.errors()[-600:]
        started = time.monotonic()
        agent.proc.send_signal(signal.SIGTERM)
        try:
            code = agent.proc.wait(60)
        except subprocess.TimeoutExpired:
            code = None
        took = time.monotonic() - started
    finally:
        if victim is not None:
            try:
                os.kill(victim, signal.SIGCONT)
            except ProcessLookupError:
                pass
        if agent.proc.poll() is None:
            agent.proc.kill()
            agent.proc.wait(30)
    assert code == 0, agent.errors()[-600:]
    assert exactly_once(agent.seqs(), range(TOTAL)) == ""
    assert took <= SHUTDOWN_TIMEOUT + 5 + LOADED, (
        f"the stop took {took:.1f} s (shutdown_timeout {SHUTDOWN_TIMEOUT}); journal: {agent.errors()[-300:]}")
