"""The placeholder of a file never opened keeps its birth time in the checkpoint, and its key there, across restarts
(torture seeds 193122, 194215, `--overtaken`, with the holder: "3 lines (24 bytes) of app.log.1 deleted unread, 0
bytes named").

A scan listed the live file empty; 3 lines were written to it and it was rotated away before the scan compared it:
followed by its inode alone (never opened: no generation), it was deleted unread, and ext4 gave its inode to the
writer's next file. (1) Saved without its birth time, the restarted tailer took that file, on the same inode, for it.
(2) Told apart, the placeholder's key in the checkpoint (`f:i<dev>-<ino>`) is that of the new file's inode-only
placeholder too: written over, then dropped once the new file had a line, and the next restart had forgotten it. Either
way the 3 lines went without a word; now they are named lost (of unknown size: the agent never saw how much)."""
from __future__ import annotations

import os

import pytest

from shipper.tail import scan_rules
from tests.tail.conftest import Follower
from tests.tail.test_files import write


@pytest.fixture(autouse=True)
def fast_missing(monkeypatch):
    monkeypatch.setattr(scan_rules, "MISSING_SECONDS", 0.0)


def placeholder_across_two_restarts(d, f: Follower) -> None:
    """The live file of folder `d` listed empty, written (3 lines) and rotated before the scan compared it, deleted, its
    inode given to the writer's next file; `f` restarted, that file written and read, `f` restarted again."""
    log = d / "app.log"
    listed = os.stat(log).st_ino
    observe = f.tailer.prospector.observe

    def observe_then_rotate():
        f.tailer.prospector.observe = observe
        obs = observe()
        write(log, "seq 0", "seq 1 x", "seq 2 xx")  # the 24 bytes that go unread
        os.rename(log, d / "app.log.1")  # (the writer makes its next file at its next line)
        return obs

    f.tailer.prospector.observe = observe_then_rotate
    f.poll()
    os.unlink(d / "app.log.1")  # a cleaner
    log.write_bytes(b"")  # the writer's next file
    if os.stat(log).st_ino != listed:
        pytest.fail("ext4 did not give the freed inode to the next file made: the schedule this test needs did not "
                    "happen")
    f.restart()  # (1): the new file on the listed inode
    write(log, "seq 3")
    f.poll()  # the new file read: its inode-only placeholder dropped (2)
    f.restart()


def named_lost_once(caplog, f: Follower, log) -> None:
    lost = [r.getMessage() for r in caplog.records if r.getMessage().startswith("data lost")]
    assert len(lost) == 1 and lost[0].startswith(f"data lost: an unknown number of bytes of {log} "), lost
    assert f.tailer.losses == 1


def test_a_placeholder_never_opened_outlives_two_restarts_and_a_reused_inode(ext4_tmp, caplog):
    d = ext4_tmp / "logs"
    d.mkdir()
    (d / "app.log").write_bytes(b"")
    f = Follower([d / "app.log"], d)
    try:
        placeholder_across_two_restarts(d, f)
        f.poll(3)
        assert f.lines() == [b"seq 3"]
        named_lost_once(caplog, f, d / "app.log")
    finally:
        f.tailer.close()


def test_files_made_after_it_are_no_older_content(ext4_tmp, caplog):
    """(3) Kept, it is let go as a live file last seen empty: its lines are in the rotated files read from their start
    since, unless it was deleted, and a rotation deletes the oldest first, so a rotated file followed from before tells
    it was not (gone.empty_live_rotated). The files followed since the restarts were all made after it: no older
    content (by their birth times). Taken for older ones, the placeholder was let go with its lines said to be in the
    rotated files (torture seed 194215)."""
    d = ext4_tmp / "logs"
    d.mkdir()
    log = d / "app.log"
    log.write_bytes(b"")
    f = Follower([log], d)
    try:
        placeholder_across_two_restarts(d, f)
        os.rename(log, d / "app.log.1")
        write(log, "seq 4")
        f.poll()  # both followed from now on, the placeholder missing once
        os.rename(d / "app.log.1", d / "app.log.2")
        os.rename(log, d / "app.log.1")
        write(log, "seq 5")
        os.rename(d / "app.log.2", d / "app.log.3")
        os.rename(d / "app.log.1", d / "app.log.2")
        os.rename(log, d / "app.log.1")  # first seen under a rotated name: read from its start
        log.write_bytes(b"")
        f.poll(3)
        assert sorted(f.lines()) == [b"seq 3", b"seq 4", b"seq 5"]
        named_lost_once(caplog, f, log)
    finally:
        f.tailer.close()
