"""Torture seeds 300005 and 300039 (`make torture SEED=300000 N=300`, with and without the holder; 192102 with
`--overtaken`): test_head_only_backup_waiting_before_live_grew_no_window.py's case across a restart. A `create`
rotation with `compress` of a live file read no further than its header (a header every file shares): the .gz of
the old one holds the header only and waits to be told apart (copies.is_copy). The agent is killed, the live file
grows by appends, and at the restart's first scan copies.head_copy_of_grown took the .gz for the copy of a
copytruncate of the live file, made when it held its header only, then cut and given its header again: a window
named where no copytruncate ran, a false loss. What waited was not kept across a restart; it is now, in the
checkpoint, with its birth time (state.WAITING_PREFIX): the .gz was there when the live file last held its header
and no more, so a cut it shows came before that look, and the live file has only grown since."""
from __future__ import annotations

import gzip
import logging
import os
import shutil

import pytest

from shipper.tail import birth, scan_rules
from tests.tail.conftest import Follower

HEADER = b"# time level logger message (a header every file shares)\n"


@pytest.fixture(autouse=True)
def fast_missing(monkeypatch):
    monkeypatch.setattr(scan_rules, "MISSING_SECONDS", 0.0)


def _create_compress(d, log):
    os.rename(log, d / "app.log.1")
    log.write_bytes(HEADER)
    with open(d / "app.log.1", "rb") as src, gzip.open(d / "app.log.1.gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    os.unlink(d / "app.log.1")


def test_a_header_only_gz_waiting_before_a_kill_is_no_copy_of_the_live_file_grown_since(tmp_path, caplog):
    d = tmp_path / "logs"
    d.mkdir()
    log = d / "app.log"
    log.write_bytes(HEADER)
    f = Follower([log], d)
    try:
        f.poll()
        _create_compress(d, log)
        f.poll()
        assert f.tailer.prospector.undecided, "the .gz is to wait, too short to tell"
        f.restart()  # (a kill -9: the committed checkpoint only)
        with open(log, "ab") as w:
            w.write(b"line 0\nline 1\n")  # appended: grown from its header, never cut
        with caplog.at_level(logging.WARNING, logger="shipper.tail"):
            f.poll()
        named = [r.getMessage() for r in caplog.records if "between the copy" in r.getMessage()]
        assert named == []
        assert f.tailer.losses == 0
        assert [x for x in f.lines() if not x.startswith(b"#")] == [b"line 0", b"line 1"]
    finally:
        f.tailer.close()


def test_a_header_only_copy_made_after_the_kill_is_still_named(tmp_path, caplog):
    """The same, but the live file copied (header only), cut and given its header again after the kill, then written:
    the new copy is no file that waited, and its window is named."""
    d = tmp_path / "logs"
    d.mkdir()
    log = d / "app.log"
    log.write_bytes(HEADER)
    f = Follower([log], d)
    try:
        f.poll()
        _create_compress(d, log)
        f.poll()
        assert f.tailer.prospector.undecided
        f.restart()
        os.rename(d / "app.log.1.gz", d / "app.log.2.gz")
        shutil.copyfile(log, d / "app.log.1")  # copytruncate of the header-only live file
        with open(log, "ab") as w:
            w.write(b"lost in the window\n")
        os.truncate(log, 0)
        with open(log, "ab") as w:
            w.write(HEADER + b"line 0\n")
        with caplog.at_level(logging.WARNING, logger="shipper.tail"):
            f.poll()
        named = [r.getMessage() for r in caplog.records if "between the copy" in r.getMessage()]
        assert len(named) == 1 and "app.log.1 " in named[0], named
        assert [x for x in f.lines() if not x.startswith(b"#")] == [b"line 0"]
    finally:
        f.tailer.close()


def test_the_waiting_file_is_kept_only_while_it_waits(tmp_path):
    """The checkpoint keeps a waiting file by its inode and birth time while it waits, and no longer."""
    d = tmp_path / "logs"
    d.mkdir()
    log = d / "app.log"
    log.write_bytes(HEADER)
    f = Follower([log], d)
    try:
        f.poll()
        _create_compress(d, log)
        f.poll()
        waiting = [k for k in f.state if k.startswith("waiting:")]
        if birth.born(str(d / "app.log.1.gz"), os.stat(d / "app.log.1.gz").st_ino) is None:
            assert waiting == []  # (no birth times here: nothing to know it again by)
            return
        assert len(waiting) == 1
        os.unlink(d / "app.log.1.gz")
        f.poll()
        f.poll()
        assert [k for k in f.state if k.startswith("waiting:")] == []
    finally:
        f.tailer.close()
