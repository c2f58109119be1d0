"""Black-box attack: the real logrotate with `copytruncate` and `compress` rotates a file a real `shipper run`
has read to its end. logrotate copies app.log to app.log.1, truncates app.log, then compresses the copy to
app.log.1.gz and deletes app.log.1. Every line in the .gz was already delivered: it must not be delivered again."""
from __future__ import annotations

import subprocess
import time

import pytest

from tests.tail.attack_agent import Agent, exactly_once, numbered

pytestmark = pytest.mark.slow


def test_copytruncate_compress_while_running_repeats_nothing(tmp_path):
    live = tmp_path / "app.log"
    conf = tmp_path / "logrotate.conf"
    conf.write_text(f"{live} {{\n  copytruncate\n  compress\n  rotate 3\n}}\n")
    with open(live, "a") as f:
        f.write("".join(numbered(i) for i in range(0, 200)))
    agent = Agent(tmp_path, [live], "    read_from: beginning")
    agent.start()
    try:
        assert agent.wait_delivered(range(200))
        subprocess.run(["/usr/sbin/logrotate", "-f", "-s", str(tmp_path / "lr.state"), str(conf)], check=True)
        assert (tmp_path / "app.log.1.gz").exists()
        with open(live, "a") as f:
            f.write("".join(numbered(i) for i in range(200, 220)))
        delivered = agent.wait_delivered(range(220), timeout=40)
        time.sleep(3)  # time for a repeat of the .gz to arrive (it came within 1 s)
    finally:
        assert agent.stop() == 0
    assert delivered, exactly_once(agent.seqs(), range(220))
    assert exactly_once(agent.seqs(), range(220)) == ""
