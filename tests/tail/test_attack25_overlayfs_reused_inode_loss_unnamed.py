"""Attack 25 (issue 21, examiner exam25i): on overlayfs (a container's root filesystem, where an application in
Docker or Kubernetes writes its /var/log), a log rotated past its last backup while the agent was stopped loses its
lines without a word.

overlayfs gives a freed inode number to the next file at once, as ext4 does (its upper layer's), but answers
FS_IOC_GETVERSION with ENOTTY: there is no inode generation to tell the new file from the old. The live log holds
only its header (a Log4j layout header: the agent has read no more than its head) when the agent stops; meanwhile
the writer logs 50 lines into it and Log4j (MaxBackupIndex=1) rotates twice: the file is deleted with its lines,
and the new live file is made on its inode, with the same header. At the start the new file is taken for the old
one (its inode, its head), and the old file's 50 lines are lost with no warning and nothing counted. The same on
ext4 names the loss (`data lost: … rotated away before the rest could be read …`), the generation telling the two
apart. 2 of 2 by hand (SIGTERM and kill -9), and in this test.

What should happen: where the filesystem has no generation, an inode and a head prove nothing for a content of
which no more than its head was read: its loss is named, as on ext4. (Session 26: the birth time stands in for the
generation where the file system has none, shipper/tail/birth.py; the loss is named at the scan after the start.)
"""
from __future__ import annotations

import contextlib
import os
import subprocess
import time
from pathlib import Path

import pytest

from tests.fs_faults import ext4_image, unmount
from tests.tail.attack18_agent import Agent, append, wait


@contextlib.contextmanager
def overlay(root: Path):
    """root/merged: an overlayfs whose upper layer is on a new ext4 (inodes reused at once, as in a container)."""
    disk = root / "disk"
    disk.mkdir()
    with ext4_image(disk, root / "disk.img"):
        for name in ("lower", "upper", "work"):
            (disk / name).mkdir()
        merged = root / "merged"
        merged.mkdir()
        subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                        f"lowerdir={disk}/lower,upperdir={disk}/upper,workdir={disk}/work", str(merged)], check=True)
        try:
            yield merged
        finally:
            unmount(merged)


def rotate(logs: Path) -> None:
    """Log4j 1.2 RollingFileAppender with MaxBackupIndex=1."""
    if (logs / "app.log.1").exists():
        (logs / "app.log.1").unlink()
    (logs / "app.log").rename(logs / "app.log.1")


@pytest.mark.slow
def test_a_log_rotated_away_on_overlayfs_while_stopped_is_named_lost(tmp_path):
    with overlay(tmp_path) as logs:
        live = logs / "app.log"
        append(live, 0, 0)                     # the layout header only, as Log4j opens its file
        first_inode = os.stat(live).st_ino
        agent = Agent(tmp_path, [str(live)])
        agent.start()
        time.sleep(3)                          # the agent has read the header
        agent.stop()
        append(live, 0, 50)                    # written while the agent is stopped ...
        rotate(logs)
        append(live, 50, 50)
        rotate(logs)                           # ... and deleted with its file
        append(live, 100, 50)
        assert os.stat(live).st_ino == first_inode, "overlayfs did not reuse the inode: nothing tried"
        agent.start()
        try:
            agent.wait_seqs(range(50, 150))
            # (A content is called gone once it is missing from two scans a second apart: the next poll's.)
            with contextlib.suppress(AssertionError):
                wait(lambda: named(agent), "the loss named", timeout=30)
        finally:
            agent.stop()
    assert sorted(agent.seqs()) == list(range(50, 150))
    assert named(agent), "50 lines lost with no warning: " + repr(agent.warnings())


def named(agent: Agent) -> list[str]:
    return [w for w in agent.warnings() if "data lost" in w and "app.log" in w]
