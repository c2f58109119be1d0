"""Black-box attack: the agent is stopped, the log rotates (`app.log` -> `app.log.1`) and the writer has not
created its new live file yet when the agent starts again (logrotate `nocreate`, a writer that reopens on its
next line). The lines written after the last read are in `app.log.1`: a real `shipper run` must find them
there and deliver them once, and must not warn that the file was "rotated away and deleted"."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.tail.attack_agent import Agent, exactly_once, numbered

pytestmark = pytest.mark.slow


def write(path, lo: int, hi: int) -> None:
    with open(path, "a") as f:
        f.write("".join(numbered(i) for i in range(lo, hi)))


def test_restart_while_live_file_is_missing_reads_the_rotated_backup(tmp_path):
    live = tmp_path / "app.log"
    write(live, 0, 100)
    agent = Agent(tmp_path, [live], "    read_from: beginning")
    agent.start()
    assert agent.wait_delivered(range(100))
    assert agent.stop() == 0
    write(live, 100, 150)          # written while the agent is stopped
    os.rename(live, tmp_path / "app.log.1")   # rotated; no new live file yet
    # Started by hand: Agent.start waits for /status to list a file, and there is no live file.
    agent.runs += 1
    with open(tmp_path / f"out{agent.runs}.jsonl", "wb") as out, \
            open(tmp_path / f"out{agent.runs}.err", "wb") as err:
        agent.proc = subprocess.Popen([sys.executable, "-m", "shipper.cli", "run", "-c", str(agent.cfg)],
                                      stdout=out, stderr=err)
    try:
        delivered = agent.wait_delivered(range(150), timeout=40)
        write(live, 150, 200)      # the writer comes back
        delivered = agent.wait_delivered(range(200), timeout=40) and delivered
    finally:
        assert agent.stop() == 0
    assert delivered, exactly_once(agent.seqs(), range(200))
    assert exactly_once(agent.seqs(), range(200)) == ""
    assert "data lost" not in agent.errors(), agent.errors()
