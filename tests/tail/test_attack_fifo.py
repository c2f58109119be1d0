"""Black-box attack: the followed file is rotated away (renamed) and a FIFO made in its place
(an operator piping a program into the old log name). A real `shipper run` must go on following
the other files of its source and stop promptly, never block opening the FIFO."""
from __future__ import annotations

import os
import time

import pytest

from tests.tail.attack_agent import Agent, exactly_once, numbered

pytestmark = pytest.mark.slow


def test_followed_file_replaced_by_fifo_blocks_nothing(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    app = logs / "app.log"
    app.write_text("".join(numbered(i) for i in range(100)))
    agent = Agent(tmp_path, [logs / "*.log"], "    read_from: beginning")
    agent.start()
    assert agent.wait_delivered(range(100))
    os.rename(app, logs / "app.log.1")
    os.mkfifo(app)  # nobody ever opens its write end
    time.sleep(1.0)
    (logs / "other.log").write_text("".join(numbered(i) for i in range(100, 200)))
    delivered = agent.wait_delivered(range(200), timeout=30)
    t0 = time.monotonic()
    assert agent.stop() == 0
    stop_took = time.monotonic() - t0
    assert delivered, exactly_once(agent.seqs(), range(200))
    assert exactly_once(agent.seqs(), range(200)) == ""
    # shutdown_timeout is 20 s: a source blocked in open() keeps the stop waiting for all of it
    assert stop_took < 15, f"stop took {stop_took:.1f} s: the source was blocked"
