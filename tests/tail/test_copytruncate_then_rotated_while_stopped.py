"""A live file with a header read while the agent ran, then, while it was stopped, copied and truncated by
copytruncate (lines written between the copy and the truncation), given its header again and renamed on by a
`create` rotation (torture seed 186044, `--overtaken`: 2 lines of a seen file lost, no loss warned). At the next
start the content's own inode, under a rotated name now, held its header and less than was read: taken for another
file ("only the live file is truncated, a backup never"), the content was found in its copy and the window went
unsaid. Its inode's generation proves it the same file, cut in place: the window is named, nothing read twice."""
from __future__ import annotations

import logging
import os
import shutil

from shipper.tail import scan_rules
from shipper.tail.holder import generation
from tests.tail.conftest import Follower

HEADER = b"# time level logger message (a header every file shares)\n"


def test_a_file_cut_by_copytruncate_and_rotated_while_stopped_names_the_window(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(scan_rules, "MISSING_SECONDS", 0.0)
    live = tmp_path / "app.log"
    live.write_bytes(HEADER + b"seq 0 x\nseq 1 xx\n")
    fd = os.open(live, os.O_RDONLY)
    try:
        has_generations = generation(fd) is not None
    finally:
        os.close(fd)
    f = Follower([live], tmp_path)
    try:
        f.poll()
        assert [x for x in f.lines() if not x.startswith(b"#")] == [b"seq 0 x", b"seq 1 xx"]
        f.tailer.close()  # stopped; while it is:
        shutil.copyfile(live, tmp_path / "app.log.1")  # copytruncate
        with open(live, "ab") as w:
            w.write(b"seq 2 xxx\n")  # between the copy and the truncation: in no file
        with open(live, "r+b") as w:
            w.truncate(0)
            w.write(HEADER)  # the writer's header again
        os.rename(tmp_path / "app.log.1", tmp_path / "app.log.2")  # then a `create` rotation
        os.rename(live, tmp_path / "app.log.1")
        live.write_bytes(HEADER + b"seq 3 x\n")
        f.tailer = f._new()  # started again from the committed checkpoints
        with caplog.at_level(logging.WARNING, logger="shipper.tail"):
            f.poll(3)
        lines = [x for x in f.lines() if not x.startswith(b"#")]
        assert lines == [b"seq 0 x", b"seq 1 xx", b"seq 3 x"]
        warned = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        named = [m for m in warned if "between the copy" in m]
        if has_generations:  # (without them nothing tells the file cut from another given its inode)
            assert len(named) == 1 and str(live) in named[0] and str(tmp_path / "app.log.2") in named[0], warned
            assert f.tailer.losses == 1
    finally:
        f.tailer.close()
