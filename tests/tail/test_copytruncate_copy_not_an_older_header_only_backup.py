"""The content of a live file read no further than its header, cut in place by copytruncate, is in its copy, not in a
header-only backup a `create` rotation renamed before that file was born. Of the same-headed files that could hold
such a content the scan took the oldest (a rotation moves content away one step at a time); the older backup was
taken, the window named with it as the copy, and the real copy, read as a new file, named a second, later
copytruncate's window: two windows for one copytruncate (torture seeds 192157 and 192271, with the holder and
without). A copy is made from the file, after it: a file born before it is no copy of it (copies.born_before_cut)."""
from __future__ import annotations

import logging
import os
import shutil
import time

import pytest

from shipper.tail import birth
from tests.fs_faults import ext4_folder
from tests.tail.conftest import Follower
from tests.tail.test_files import write

HEADER = "# time level logger message"


def rotate_create(log) -> None:
    """`create` with two backups. (A pause first: birth times come from a clock that ticks every few ms.)"""
    time.sleep(0.02)
    if os.path.exists(f"{log}.2"):
        os.unlink(f"{log}.2")
    if os.path.exists(f"{log}.1"):
        os.rename(f"{log}.1", f"{log}.2")
    os.rename(log, f"{log}.1")
    write(log, HEADER)


@pytest.fixture
def folder(tmp_path):
    """An ext4 of its own (a loop mount): the proof needs birth times (statx btime), which /tmp may not give."""
    with ext4_folder(tmp_path) as d:
        probe = d / "probe"
        probe.touch()
        assert birth.born(str(probe), probe.stat().st_ino) is not None, "ext4 without birth times"
        probe.unlink()
        yield d


def test_the_cut_content_is_found_in_its_copy_not_in_an_older_header_only_backup(folder, caplog):
    log = folder / "app.log"
    write(log, HEADER)
    f = Follower([log], folder)
    try:
        with caplog.at_level(logging.INFO, logger="shipper.tail"):
            f.poll()
            rotate_create(log)
            rotate_create(log)  # a header-only file never seen is app.log.1 now, born before the live file
            f.poll()  # the live file: its header read
            write(log, "line 0", "line 1")
            time.sleep(0.02)
            # copytruncate: the older backups shifted on, the live file copied to app.log.1, a line written
            # between the copy and the truncation, then the file cut and written on (no header: its writer's
            # next line)
            os.unlink(f"{log}.2")
            os.rename(f"{log}.1", f"{log}.2")
            shutil.copyfile(log, f"{log}.1")
            write(log, "line 2")
            os.truncate(log, 0)
            write(log, "line 3")
            f.poll()
            f.poll()
        assert [r for r in f.lines() if not r.startswith(b"#")] == [b"line 0", b"line 1", b"line 3"]
        named = [r.getMessage() for r in caplog.records if "between the copy" in r.getMessage()]
        assert len(named) == 1 and f"{log}.1 " in named[0], named
    finally:
        f.tailer.close()
