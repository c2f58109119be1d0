"""Black-box attack 7 (attack-fix, on today's parse-worker fixes): the parse workers' forkserver is stopped
(`kill -STOP`, a debugger, a cgroup freezer holding that one process) and the agent is then stopped.
docs/operations.md promises "the whole stop ends within `shutdown_timeout` + 5 s" and, for the workers, "at a
stop a forkserver that does not end within 5 s is killed".

Found (by hand 4 of 4, `parse_workers: 2`, everything delivered before the stop): with `shutdown_timeout: 0`
the stop takes 9.2-9.3 s (0.6 s with nothing stopped, 1.5 s with one worker stopped), and with
`shutdown_timeout: 5` it took 14.5 s: about 4 s more than the promised bound each time. The journal names
the forkserver ("did not end in 5 s (stopped?): killed"), the exit code is 0 and nothing is lost or repeated;
only the time is over the promise (the unit's 90 s leaves room today, but a `shutdown_timeout` set from the
documented bound gets the stop SIGKILLed by systemd). The attack-state attacker found the same with a
200,000-line backlog (10.1-17.3 s for shutdown_timeout 1-20). Fixed: a stopped forkserver is killed before the
workers are ended (each join waited for its word), and one that does not end is waited for 1 s, not 5."""
from __future__ import annotations

import os
import signal
import time

from tests.core.test_attack7_parse_worker_stopped import parent, parse_workers
from tests.support import wait_until
from tests.tail.attack_agent import Agent, exactly_once, numbered

LINES = 1000
SLACK = 3.0  # the process's own start-up of the stop and exit on a loaded 2-core machine (0.6 s measured)


def test_a_stop_with_the_forkserver_stopped_ends_within_shutdown_timeout_plus_5_s(tmp_path):
    log = tmp_path / "app.log"
    log.write_text("".join(numbered(i) for i in range(LINES)))
    agent = Agent(tmp_path, [log], source_extra="    parse_workers: 2")
    agent.cfg.write_text(agent.cfg.read_text().replace("shutdown_timeout: 20", "shutdown_timeout: 0"))
    agent.start()
    server = None
    try:
        wait_until(lambda: len(parse_workers(agent.proc.pid)) == 2, 60, "the parse workers started")
        assert agent.wait_delivered(range(LINES), 120), agent.errors()[-600:]
        server = parent(parse_workers(agent.proc.pid)[0])
        assert server != agent.proc.pid, "the workers are the agent's own children: no forkserver"
        os.kill(server, signal.SIGSTOP)
        started = time.monotonic()
        code = agent.stop()
        took = time.monotonic() - started
        assert code == 0, agent.errors()[-600:]
        assert not os.path.exists(f"/proc/{server}"), "the stopped forkserver outlived the agent"
        server = None
        assert exactly_once(agent.seqs(), range(LINES)) == ""
        assert took < 0 + 5 + SLACK, f"the stop took {took:.1f} s with shutdown_timeout 0; {agent.errors()[-600:]}"
    finally:
        if server is not None and os.path.exists(f"/proc/{server}"):
            os.kill(server, signal.SIGCONT)
        if agent.proc.poll() is None:
            agent.proc.kill()
            agent.proc.wait(30)
