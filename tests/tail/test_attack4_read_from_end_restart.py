"""Black-box attack 4: `read_from: end` (do not ship the history on the first deployment), then a restart (an
upgrade, `systemctl restart`, a kill -9 and systemd's restart). A file the globs match that was created while
the agent was stopped is no history: the agent had already looked at its folder, and the file came later. Its
lines must be shipped (or at least their skipping said): the README promises nothing lost through restarts."""
from __future__ import annotations

import signal
import time

import pytest

from tests.tail.attack_agent import Agent, exactly_once, numbered

pytestmark = pytest.mark.slow


def write(path, lo: int, hi: int) -> None:
    with open(path, "a") as f:
        f.write("".join(numbered(i) for i in range(lo, hi)))


def test_file_created_while_stopped_is_not_history_with_read_from_end(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    write(logs / "app.log", 0, 100)  # history: skipped, as documented
    agent = Agent(tmp_path, [f"{logs}/*.log"], "    read_from: end")
    agent.start()
    try:
        write(logs / "app.log", 100, 110)
        assert agent.wait_delivered(range(100, 110))
    finally:
        agent.stop(signal.SIGTERM)
    write(logs / "new.log", 200, 210)  # created while the agent was stopped
    write(logs / "app.log", 110, 120)
    agent.start()
    try:
        agent.wait_delivered(list(range(100, 120)) + list(range(200, 210)), timeout=20)
        time.sleep(2)
    finally:
        assert agent.stop() == 0
    seqs = agent.seqs()
    assert exactly_once([s for s in seqs if s < 200], range(100, 120)) == ""
    got_new = set(range(200, 210)) <= set(seqs)
    said = any("level=warning" in line and "new.log" in line for line in agent.errors().splitlines())
    assert got_new or said, "new.log's 10 lines were skipped without a word"
