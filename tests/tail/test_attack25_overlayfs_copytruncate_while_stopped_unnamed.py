"""Attack 25 (issue 21, examiner exam25i): on overlayfs, a copytruncate rotation while the agent is stopped loses
its window's lines without a word.

The same steps on ext4 name the window (`data lost: an unknown number of bytes of app.log were written between the
copy to app.log.1 and the truncation …`). On overlayfs (a container's root filesystem: an application in Docker or
Kubernetes writing /var/log, rotated by logrotate `copytruncate` inside the container), after a SIGTERM or a kill -9
the agent finds the copy, reads the rest of what it had not read from it, reads the live file again from its start,
and says nothing: the 5 lines written between the copy and the truncation are lost, no warning, nothing counted.
Found in a randomised run with the real logrotate on overlayfs (one rotation while the agent was down after a
kill -9: lines 8681-8685 lost, 0 windows named); 4 of 4 stepped by hand (SIGTERM and kill -9, with and without a
header line).

What should happen: the window is named and counted as it is on ext4 (docs/operations.md, "copytruncate loses lines").

Session 26: passes since the birth time stands in for the inode generation where the file system has none
(shipper/tail/birth.py, holder.generation).
"""
from __future__ import annotations

import json
import os
import shutil

import pytest

from tests.tail.attack18_agent import Agent
from tests.tail.test_attack25_overlayfs_reused_inode_loss_unnamed import overlay


def put(live, first: int, count: int) -> int:
    with open(live, "a") as f:  # an appending writer (O_APPEND), as Log4j or `prog >> app.log`
        f.write("".join(json.dumps({"seq": s, "pad": "x" * 40}) + "\n" for s in range(first, first + count)))
    return first + count


@pytest.mark.slow
@pytest.mark.parametrize("stop", ["sigterm", "kill9"])
def test_a_copytruncate_window_while_stopped_on_overlayfs_is_named(tmp_path, stop):
    with overlay(tmp_path) as logs:
        live = logs / "app.log"
        agent = Agent(tmp_path, [str(live)])
        seq = put(live, 0, 50)
        agent.start()
        agent.wait_seqs(range(seq))
        if stop == "sigterm":
            agent.stop()
        else:
            agent.kill9()
        seq = put(live, seq, 20)
        shutil.copyfile(live, logs / "app.log.1")       # logrotate copytruncate: the copy,
        window = list(range(seq, seq + 5))
        seq = put(live, seq, 5)                         # lines written meanwhile,
        os.truncate(live, 0)                            # the truncation,
        seq = put(live, seq, 10)                        # and the writer goes on
        agent.start()
        try:
            agent.wait_seqs(set(range(seq)) - set(window))
        finally:
            agent.stop()
    seqs = agent.seqs()
    assert sorted(seqs) == sorted(set(range(seq)) - set(window))
    named = [w for w in agent.warnings() if "between the copy to" in w]
    assert len(named) == 1, f"{len(window)} lines lost, {len(named)} windows named: " + repr(agent.warnings())
