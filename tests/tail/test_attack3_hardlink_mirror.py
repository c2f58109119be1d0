"""Attack (issue 13/21): a second name for the live log (`mirror.log`, a hard link: one inode, two
names in the globs), re-linked to the new live file at each rotation. Every line is delivered once,
but each time the old `mirror.log` name goes, the holder warns "data lost: an unknown number of
bytes of mirror.log were in 1 rotated file(s) that appeared and were gone before they could be
held" and counted it: the inode it named is still on disk (as app.log.1) and was read to its end
(an inode was credited once, to the first name it was met under; now once per family)."""
from __future__ import annotations

import os
import time

from tests.tail.attack_agent import Agent, exactly_once, numbered


def test_hard_link_to_the_live_log_relinked_at_rotation_is_no_loss(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    live = logs / "app.log"
    mirror = logs / "mirror.log"
    live.write_text(numbered(0))
    os.link(live, mirror)
    agent = Agent(tmp_path, [f"{logs}/*.log"])
    agent.start()
    seq = 1
    try:
        for r in range(4):
            with open(live, "a") as f:
                for _ in range(200):
                    f.write(numbered(seq))
                    seq += 1
            if r % 2:
                agent.stop()
            os.rename(live, logs / "app.log.1")
            os.unlink(mirror)
            live.write_text(numbered(seq))
            seq += 1
            os.link(live, mirror)
            if r % 2:
                agent.start()
            time.sleep(0.5)
        agent.wait_delivered(range(seq), timeout=15)
        time.sleep(1)
    finally:
        agent.stop()
    assert exactly_once(agent.seqs(), range(seq)) == ""
    lost = [line for line in agent.errors().splitlines() if "data lost" in line]
    assert lost == [], "\n".join(lost)
