"""Black-box attack 10 (operator): the log volume is moved to a new disk while the agent is stopped — `cp -a` (or
`rsync -a`) of /var/log/app onto a fresh ext4, which is then mounted where the old one was, on the same block
device (here: the same loop device, its backing file swapped; on a host, the same LV or partition restored from
a file-level backup). A fresh ext4 numbers the inodes of the files copied into it in creation order, so the
copies get the very inode numbers of the originals, on the same device number; only the inodes' generations
differ.

Found (by hand 5 of 5, daemon and `run --once`, and with this test): the source never reads `app.log` again.
The 200 lines written before the move but not shipped yet, and every line the application appends after it,
stay unread: `run --once` ends "read 0 events ... 0 bytes lost" at every run, the daemon ships nothing from the
file for as long as it runs, and nothing is said, not even at debug level; `shipper status` alone shows the lag
growing (`position 22500 of 31500 bytes`). With the copies on other inode numbers the same move is handled
(the lines are shipped once).
Cause: the content was found by its bytes on its own inode number (prospector step 2) but attached keeping
the old generation, so the reader took the file for another one given that number and never read it, and
each scan let the content loose and attached it again. Now the generation is the new inode's, and said.

Promised (README): "without losing or repeating a line across rotations and restarts"; loss is loud; nothing
hangs (DEVELOPERS.md)."""
from __future__ import annotations

import os
import subprocess
import time

import pytest

from tests.fs_faults import unmount
from tests.tail.attack_agent import Agent, append_numbered, exactly_once

pytestmark = pytest.mark.slow


def sh(*args: str) -> str:
    return subprocess.run(list(args), check=True, capture_output=True, text=True).stdout.strip()


def move_volume(tmp_path, stage_files) -> tuple:
    """A volume with app.log.1 and app.log (lines 1000..1500 shipped by an agent, then 1500..1700 written
    while it is stopped), moved file by file onto a fresh ext4 on the same loop device: stage_files(mnt,
    stage) makes the new disk's files in the order the old ones were made. The agent, the live log, the
    loop device, and a cleanup function."""
    old, new, mnt, stage = tmp_path / "old.img", tmp_path / "new.img", tmp_path / "mnt", tmp_path / "stage"
    mnt.mkdir()
    for image in (old, new):
        sh("truncate", "-s", "16M", str(image))
        sh("mkfs.ext4", "-q", "-F", str(image))
    device = sh("losetup", "--find", "--show", str(old))

    def cleanup() -> None:
        for folder in (stage, mnt):  # stage too: a stage_files that failed left it mounted
            if os.path.ismount(folder):
                unmount(folder)
        subprocess.run(["losetup", "-d", device], check=False)

    try:
        sh("mount", device, str(mnt))
        log = mnt / "app.log"
        append_numbered(log, 0, 1000)
        os.rename(log, f"{log}.1")  # a Log4j rotation: the backup keeps the first inode, the live file the next
        append_numbered(log, 1000, 1500)
        agent = Agent(tmp_path, [log])
        agent.start()
        try:
            assert agent.wait_delivered(range(1000, 1500), 60), exactly_once(agent.seqs(), range(1000, 1500))
        finally:
            assert agent.stop() == 0, agent.errors()[-500:]
        append_numbered(log, 1500, 1700)  # written while the agent is stopped for the move
        before = {p.name: (p.stat().st_dev, p.stat().st_ino) for p in (log, mnt / "app.log.1")}

        # the move: a file-level copy onto a fresh filesystem, in the order the files were made
        stage.mkdir()
        sh("mount", "-o", "loop", str(new), str(stage))
        stage_files(mnt, stage)
        sh("umount", str(stage))
        sh("umount", str(mnt))
        sh("losetup", "-d", device)
        sh("losetup", device, str(new))  # the same device number, another disk's content
        sh("mount", device, str(mnt))
        after = {p.name: (p.stat().st_dev, p.stat().st_ino) for p in (log, mnt / "app.log.1")}
        assert after == before, f"the copies did not land on the same device and inode numbers: {before} {after}"
    except BaseException:
        cleanup()
        raise
    return agent, log, cleanup


def test_a_log_volume_copied_to_a_new_disk_is_read_on(tmp_path):
    def copy(mnt, stage) -> None:
        for name in ("app.log.1", "app.log"):
            sh("cp", "-a", str(mnt / name), str(stage / name))

    agent, log, cleanup = move_volume(tmp_path, copy)
    try:
        agent.start()
        try:
            append_numbered(log, 1700, 1800)  # the application goes on writing on the new disk
            delivered = agent.wait_delivered(range(1000, 1800), 30)
        finally:
            agent.stop()
        wrong = exactly_once(agent.seqs(), range(1000, 1800))
        assert delivered and not wrong, f"{wrong}; journal: {agent.errors()[-400:]}"
        assert "on a new inode of the same number" in agent.errors(), agent.errors()[-400:]
    finally:
        cleanup()


def test_another_file_on_the_live_logs_inode_number_is_read_whole_and_the_unread_lines_named_lost(tmp_path):
    """The backup copied, but at the live name a file of other content (the application started afresh on the
    new disk): on the live log's very inode number, it is no copy of what was read. It is read from its start,
    and the 200 lines written before the move and never read are a named loss."""
    def other_live(mnt, stage) -> None:
        sh("cp", "-a", str(mnt / "app.log.1"), str(stage / "app.log.1"))
        append_numbered(stage / "app.log", 5000, 5100)

    agent, log, cleanup = move_volume(tmp_path, other_live)
    try:
        agent.start()
        try:
            append_numbered(log, 5100, 5200)
            delivered = agent.wait_delivered(range(5000, 5200), 30)
            deadline = time.monotonic() + 60
            while agent.losses_counted() == 0 and time.monotonic() < deadline:
                time.sleep(0.2)
            counted = agent.losses_counted()
        finally:
            agent.stop()
        expected = [*range(1000, 1500), *range(5000, 5200)]
        wrong = exactly_once(agent.seqs(), expected)
        assert delivered and not wrong, f"{wrong}; journal: {agent.errors()[-400:]}"
        lost = [line for line in agent.errors().splitlines() if "lost" in line and "app.log" in line]
        assert counted > 0 and lost, agent.errors()[-800:]
    finally:
        cleanup()
