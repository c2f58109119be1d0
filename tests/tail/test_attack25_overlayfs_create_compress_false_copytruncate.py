"""Attack 25 (issue 21, examiner exam25i): on overlayfs, logrotate `create` + `compress` run twice while the agent
is stopped is named as two copytruncate windows: two false "data lost", counted, although every line is delivered.

overlayfs reuses a freed inode number at once and has no inode generation (FS_IOC_GETVERSION: ENOTTY). Rotated
twice while the agent is stopped, the log it was reading is compressed (its inode freed) and the second rotation's
new live file is made on that inode, with the same header and shorter than what was read: the agent takes it for
the file it read, truncated in place, finds the `.gz` backups holding what was read, and warns `data lost: an
unknown number of bytes of app.log were written between the copy to app.log.2.gz and the truncation (copytruncate
…)` and again for app.log.1.gz (`a copytruncate rotation after the one that copied it …`). Nothing was copied or
truncated and nothing was lost. The same steps on ext4 say nothing (the generation tells the files apart). 2 of 2
by hand (SIGTERM, kill -9); with a new live file longer than what was read, nothing is said.

What should happen: no loss is named where nothing was lost; a rename rotation is not called a copytruncate.

Session 26: passes since the birth time stands in for the inode generation where the file system has none
(shipper/tail/birth.py, holder.generation).
"""
from __future__ import annotations

import json
import os
import subprocess
import time

import pytest

from tests.tail.attack18_agent import HEADER, Agent
from tests.tail.test_attack25_overlayfs_reused_inode_loss_unnamed import overlay


@pytest.mark.slow
def test_create_compress_rotations_while_stopped_on_overlayfs_name_no_loss(tmp_path):
    with overlay(tmp_path) as logs:
        live = logs / "app.log"
        conf = tmp_path / "logrotate.conf"
        conf.write_text(f"{live} {{\n  rotate 5\n  create\n  compress\n  missingok\n}}\n")

        def put(first: int, count: int) -> int:
            with open(live, "a") as f:
                if f.tell() == 0:
                    f.write(HEADER + "\n")
                f.write("".join(json.dumps({"seq": s, "pad": "x" * 40}) + "\n" for s in range(first, first + count)))
            return first + count

        def rotate() -> None:
            subprocess.run(["logrotate", "-f", "-s", str(tmp_path / "logrotate.state"), str(conf)], check=True)

        agent = Agent(tmp_path, [str(live)])
        seq = put(0, 50)
        first_inode = os.stat(live).st_ino
        agent.start()
        agent.wait_seqs(range(seq))
        time.sleep(1)
        agent.stop()
        seq = put(seq, 3)
        rotate()
        seq = put(seq, 20)
        rotate()
        seq = put(seq, 20)                     # shorter than what was read of the first file
        assert os.stat(live).st_ino == first_inode, "overlayfs did not reuse the inode: nothing tried"
        agent.start()
        try:
            agent.wait_seqs(range(seq))
            time.sleep(2)
        finally:
            agent.stop()
    assert sorted(agent.seqs()) == list(range(seq))
    assert [w for w in agent.warnings() if "data lost" in w] == []
