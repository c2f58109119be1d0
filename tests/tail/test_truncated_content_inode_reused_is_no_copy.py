"""A file on the inode number a content was read from, given to it by ext4 after the content was cut in place and
deleted, is never a copy of that content: a copy (copytruncate) is made while its original holds the number.
HeaderModel's example "lost-L4" (tests/tail/test_model_header_examples.py): every file starts with the same header,
the writer's next file, header only, got the number under a rotated name and was taken for a copy of the content's
head (the header seemed the content's own: the only other content known, the cut live file written on, starts with
a line); a backup holding a line past the header, shorter than what was read of the content, then waited to be told
apart from that "copy", and was not read."""
from __future__ import annotations

import os

from shipper.tail import scan_rules
from tests.tail.conftest import Follower
from tests.tail.test_files import write
from tests.tail.test_identity import reuse_inode

HEADER = "# time level logger message"


def test_a_header_only_file_on_the_cut_contents_freed_inode_does_not_hold_back_a_backup(ext4_tmp, monkeypatch):
    monkeypatch.setattr(scan_rules, "MISSING_SECONDS", 0.0)
    d = ext4_tmp / "logs"
    d.mkdir()
    log = d / "app.log"
    write(log, HEADER, "L1-x", "L2-xx")
    f = Follower([log], d)
    try:
        f.poll()
        freed = log.stat().st_ino
        # Cut in place (copytruncate; its copy deleted unseen) and rotated out past the backups, held by the reader
        # only; the writer goes on in the cut file's successor without a header (as after copytruncate).
        os.truncate(log, 0)
        os.rename(log, d / "app.log.1")
        os.unlink(d / "app.log.1")
        write(log, "L3-xxx")
        f.poll()  # the cut seen: the content loose, its descriptor closed, its inode freed
        # The writer's next file, header only, is given that inode and rotated to app.log.2; a backup with a line.
        new = reuse_inode(d, freed)
        assert new is not None, "ext4 did not give the freed inode back"
        write(new, HEADER)
        os.rename(new, d / "app.log.2")
        write(d / "app.log.1", HEADER, "L4-xxxx")  # shorter than what was read of the cut content
        f.poll(3)
        assert b"L4-xxxx" in f.lines(), f.lines()
        assert [x for x in f.lines() if not x.startswith(b"#")] == [b"L1-x", b"L2-xx", b"L3-xxx", b"L4-xxxx"]
    finally:
        f.tailer.close()
