"""Attack 25 (issue 21, examiner exam25i): on overlayfs, after a restart across logrotate `create` rotations, a later
rotation is warned as the live log truncated in place.

logrotate `create`, `rotate 5`: each rotation deletes the oldest backup and makes the new live file, which overlayfs
puts on the inode number just freed (no generation to tell them apart). The agent stopped for two rotations and
started again; at a later rotation the journal says `file truncated: reading it again from its start` and `data
possibly lost: an unknown number of bytes (possibly none) of app.log written after the last read: the file was
truncated in place after it had been read to its end, and no copy of it was found …`. Nothing was truncated and
nothing lost (every line is delivered once); an operator reading the journal is sent after a copytruncate or a
`: >` that never happened. The same steps on ext4 say nothing. 2 of 2 stepped by hand; 4 of 5 randomised runs with
the real logrotate and a writer appending every 10 ms on overlayfs (1 to 5 such warnings each). In one more such run
(SIGTERM restarts, `create`) two lines of the log rotated at that moment (4408-4409) were never delivered, though
still on disk in app.log.1: not reproduced stepwise.

What should happen: a rename rotation is followed as one; no truncation and no possible loss is named.

Session 26: passes since the birth time stands in for the inode generation where the file system has none
(shipper/tail/birth.py, holder.generation). Then failing again, on ext4 too, from truncation.cut_back_unseen (cut13,
24eb19c): the new log's events, by name, were taken for the renamed one's; they are noted only while the name reaches
the file's inode (Tailer.noted).
"""
from __future__ import annotations

import contextlib
import json
import subprocess
import time
from pathlib import Path

import pytest

from tests.tail.attack18_agent import HEADER, Agent
from tests.tail.test_attack25_overlayfs_reused_inode_loss_unnamed import overlay


@contextlib.contextmanager
def plain(root: Path):
    """root/plain: a folder on the test's own file system (ext4 here)."""
    (root / "plain").mkdir()
    yield root / "plain"


@pytest.mark.slow
@pytest.mark.parametrize("where", ["overlayfs", "ext4"])
def test_create_rotations_after_a_restart_on_overlayfs_are_no_truncation(tmp_path, where):
    with (overlay if where == "overlayfs" else plain)(tmp_path) as logs:
        live = logs / "app.log"
        conf = tmp_path / "logrotate.conf"
        conf.write_text(f"{live} {{\n  rotate 5\n  create\n  missingok\n}}\n")

        def put(first: int, count: int) -> int:
            with open(live, "a") as f:
                if f.tell() == 0:
                    f.write(HEADER + "\n")
                f.write("".join(json.dumps({"seq": s, "pad": "x" * 40}) + "\n" for s in range(first, first + count)))
            return first + count

        agent = Agent(tmp_path, [str(live)])
        seq = put(0, 20)
        agent.start()
        agent.wait_seqs(range(seq))
        try:
            for rotation in range(14):
                if rotation == 6:
                    agent.stop()
                if rotation == 8:
                    agent.start()
                seq = put(seq, 20)
                if rotation not in (6, 7):
                    agent.wait_seqs(range(seq))
                seq = put(seq, 2)  # the writer's last lines, just before the rotation
                subprocess.run(["logrotate", "-f", "-s", str(tmp_path / "logrotate.state"), str(conf)], check=True)
                seq = put(seq, 1)
            agent.wait_seqs(range(seq))
            time.sleep(2)
        finally:
            agent.stop()
    assert sorted(agent.seqs()) == list(range(seq))
    assert [w for w in agent.warnings() if "lost" in w] == []
