"""Attack (issue 21/13): a writer fills app.log (20,000 lines), the agent is killed (-9) while it
reads, logrotate `compress` makes app.log.1.gz, the agent starts again; five times over. No line
is missing (kill -9 may repeat what was in flight, as the README says), yet the agent warned "data
lost: an unknown number of bytes of app.log written after the last read: the file was rotated away
and deleted before the rest could be read (more rotations than backups)" and counted it: the
content is in app.log.1.gz, read. By hand 3 of 3 schedules, this test 2 of 2. Seen in the
checkpoints: the inode-only placeholder of the first, empty app.log (head_len 0, offset 0) is
still saved beside the state that replaced it once the file had a line (its removal was not
committed before the kill), survives every restart, and is called lost once its inode is gone."""
from __future__ import annotations

import signal
import subprocess
import time

import pytest

from tests.tail.attack_agent import Agent, numbered

pytestmark = pytest.mark.slow


def test_kill9_then_compress_warns_no_loss_that_did_not_happen(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    live = logs / "app.log"
    conf = tmp_path / "lr.conf"
    conf.write_text(f"{live} {{\n  rotate 10\n  compress\n  missingok\n}}\n")
    live.write_text("")
    agent = Agent(tmp_path, [live])
    agent.start()
    seq = 0
    try:
        for _ in range(5):
            with open(live, "a") as f:
                for _ in range(20000):
                    f.write(numbered(seq, 60))
                    seq += 1
            time.sleep(0.3)
            agent.stop(signal.SIGKILL)
            subprocess.run(["/usr/sbin/logrotate", "-f", "-s", str(tmp_path / "lr.state"), str(conf)], check=True)
            agent.start()
        with open(live, "a") as f:
            f.write(numbered(seq))
            seq += 1
        assert agent.wait_delivered(range(seq))
        time.sleep(2)
    finally:
        agent.stop()
    assert set(range(seq)) <= set(agent.seqs())
    lost = [line for line in agent.errors().splitlines() if "data lost" in line]
    assert lost == [], "\n".join(lost)
