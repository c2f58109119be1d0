"""Issue 21 "Left": after a symlinked folder is swapped, the old target's file (still written by a
process that kept it open) is read through its descriptor until close_inactive; it was then let go,
and what was written to it later was neither read nor warned. It is now looked at in each full scan
while its tombstone lasts, and read from its checkpoint when written to again. (In process: the
Tailer driven by scans, close_inactive shortened.)"""
from __future__ import annotations

import json
import os
import time

from tests.tail.conftest import Follower, assert_exactly_once


def write(path, lo: int, hi: int) -> None:
    with open(path, "a") as f:
        f.write("".join(json.dumps({"seq": i}) + "\n" for i in range(lo, hi)))


def test_old_target_written_after_it_was_let_go_is_read(tmp_path):
    (tmp_path / "r1").mkdir()
    (tmp_path / "r2").mkdir()
    os.symlink(tmp_path / "r1", tmp_path / "current")
    write(tmp_path / "r1" / "app.log", 0, 10)
    f = Follower([tmp_path / "current" / "app.log"], tmp_path, close_inactive=0.3)
    f.settle()
    write(tmp_path / "r2" / "app.log", 10, 20)
    os.symlink(tmp_path / "r2", tmp_path / "current.new")
    os.rename(tmp_path / "current.new", tmp_path / "current")
    write(tmp_path / "r1" / "app.log", 20, 30)  # the old release's last lines (for now)
    f.settle()
    assert_exactly_once(f.seqs(), range(30))
    time.sleep(0.5)
    f.tailer.close_idle()  # idle for close_inactive: let go
    f.settle()
    assert not any(x.path.startswith(str(tmp_path / "r1")) and x.fh is not None for x in f.tailer.files.values())
    assert len(f.tailer.prospector.moved_away) == 1
    write(tmp_path / "r1" / "app.log", 30, 40)  # the old process writes again
    write(tmp_path / "r2" / "app.log", 40, 50)
    f.settle()
    assert_exactly_once(f.seqs(), range(50))
    assert f.tailer.losses == 0
    # Let go again, then moved elsewhere: no longer looked for, and nothing claimed about it.
    time.sleep(0.5)
    f.tailer.close_idle()
    f.settle()
    os.rename(tmp_path / "r1", tmp_path / "r1.old")
    f.settle()
    assert f.tailer.prospector.moved_away == {}
    assert f.tailer.losses == 0
