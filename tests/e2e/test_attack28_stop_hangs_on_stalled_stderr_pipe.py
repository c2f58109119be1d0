"""Attack 28 (exam28): `shipper run … 2>&1 | less` (or `2>&1 | collector`), the reader at the end of its screen: stdout
and the journal share one pipe, which the agent's lines fill. The operator presses Ctrl-C (less ignores SIGINT), then
again. docs/operations.md: a stop ends within `shutdown_timeout` + 5 s "however many outputs are wedged", and "a second
signal exits at once". Neither holds: the agent's threads block writing journal lines into the full pipe (every
thread of it that writes waits in anon_pipe_write), and it is still there 40 s after one SIGINT (shutdown_timeout 5)
and 40 s after two — until the reader reads again or someone kills it. With the journal on a file instead
(`2> err`), the same two signals end it in 0.6 s, naming the cut batch. By hand: two signals 2 of 2, one signal 1 of
1. What should hold: a stop, and a second signal above all, never waits on the journal's own writes: a line that
stderr cannot take now is dropped and counted (or sent to syslog), as the journal does when stderr's reader is gone."""
from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.journal_sinks import SHIPPER
from tests.stalled_reader import SHIPPED, fill_the_pipe, followed_log, read_shipped
from tests.support import wait

pytestmark = pytest.mark.slow  # (a stalled pipe, waits of seconds)


def test_two_signals_end_the_agent_whose_journal_shares_a_stalled_pipe(tmp_path: Path) -> None:
    cfg, log = followed_log(tmp_path)
    read_end, write_end = os.pipe()
    agent = subprocess.Popen([SHIPPER, "run", "-c", str(cfg)], stdout=write_end, stderr=write_end)  # 2>&1 | less
    os.close(write_end)
    try:
        got = read_shipped(read_end, 100)
        assert got.count(SHIPPED) >= 100, got[-800:]
        fill_the_pipe(read_end, log)  # less at the end of its screen reads no more
        agent.send_signal(signal.SIGINT)  # Ctrl-C: less ignores it
        time.sleep(0.5)
        agent.send_signal(signal.SIGINT)  # and again
        ended = wait(lambda: agent.poll() is not None, 20)
    finally:
        if agent.poll() is None:
            agent.kill()
            agent.wait()
        os.close(read_end)
    assert ended, "two SIGINTs did not end the agent within 20 s: it waits on its journal's writes into the full pipe"
