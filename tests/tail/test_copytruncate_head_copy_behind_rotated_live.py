"""Torture seed 300077 (`make torture SEED=300000`, with and without the holder): test_copytruncate_copy_behind_rotated_live
.py's case (copies.copy_before_rotated_on) with a copy holding no more than the live file's header. A live file read
no further than its header is, while the agent is stopped, copied (header only), a line written in the window, cut
and given its header again, written on, then renamed by a `create` rotation. At the restart the content is found on
its own inode under app.log.1, grown from its head; its copy, under the older name app.log.2, was born after it and
last written before it: made while it was live. Holding only the head, no byte of it shows the cut, and it waited to
be told apart, then was read as a new file: the window went without a word. It is taken now as copytruncate's copy, a
window that may be empty (as copies.head_copy_of_grown takes such a copy beside the live file)."""
from __future__ import annotations

import logging
import os
import shutil
import time

import pytest

from shipper.tail import birth, scan_rules
from tests.tail.conftest import Follower

HEADER = b"# time level logger message (a header every file shares)\n"


@pytest.fixture(autouse=True)
def fast_missing(monkeypatch):
    monkeypatch.setattr(scan_rules, "MISSING_SECONDS", 0.0)


def _windows(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if "between the copy" in r.getMessage()]


def _births_kept(path) -> bool:
    return birth.born(str(path), os.stat(path).st_ino) is not None


def test_a_header_only_copy_of_the_live_file_rotated_on_while_stopped_names_its_window(tmp_path, caplog):
    d = tmp_path / "logs"
    d.mkdir()
    log = d / "app.log"
    log.write_bytes(HEADER)
    f = Follower([log], d)
    try:
        f.poll()
        f.restart()  # (stopped: what follows, it does not see)
        time.sleep(0.01)
        shutil.copyfile(log, d / "app.log.1")  # copytruncate of the header-only file
        with open(log, "ab") as w:
            w.write(b"lost in the window\n")
        os.truncate(log, 0)
        with open(log, "ab") as w:
            w.write(HEADER + b"line 0\n")
        time.sleep(0.01)
        os.rename(d / "app.log.1", d / "app.log.2")  # then a `create` rotation
        os.rename(log, d / "app.log.1")
        log.write_bytes(HEADER)
        if not _births_kept(log):
            return  # (no birth times here: the rotation order cannot be told, nothing is said, as before)
        with caplog.at_level(logging.WARNING, logger="shipper.tail"):
            f.poll()
            f.poll()
        windows = _windows(caplog)
        assert len(windows) == 1 and "app.log.2 " in windows[0], windows
        assert [x for x in f.lines() if not x.startswith(b"#")] == [b"line 0"]
    finally:
        f.tailer.close()


def test_a_header_only_backup_older_than_the_live_file_names_nothing(tmp_path, caplog):
    """A `create` rotation's header-only backup, born before the live file, rotated on behind it: no copy of it."""
    d = tmp_path / "logs"
    d.mkdir()
    log = d / "app.log"
    log.write_bytes(HEADER)
    f = Follower([log], d)
    try:
        f.poll()
        os.rename(log, d / "app.log.1")  # `create`: the header-only file renamed, a new live file
        time.sleep(0.01)
        log.write_bytes(HEADER)
        f.poll()
        f.restart()
        with open(log, "ab") as w:
            w.write(b"line 0\n")
        time.sleep(0.01)
        os.rename(d / "app.log.1", d / "app.log.2")
        os.rename(log, d / "app.log.1")
        log.write_bytes(HEADER)
        with caplog.at_level(logging.WARNING, logger="shipper.tail"):
            f.poll()
            f.poll()
        assert _windows(caplog) == []
        assert [x for x in f.lines() if not x.startswith(b"#")] == [b"line 0"]
    finally:
        f.tailer.close()
