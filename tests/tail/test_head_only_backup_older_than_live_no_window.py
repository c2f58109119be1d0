"""A header-only file renamed by a `create` rotation before any scan saw it is no copytruncate copy of the live file
that came after it. Two `create` rotations between two looks leave a backup holding only the header the files share
beside a new live file holding that header too; the live file then grows. copies.head_copy_of_grown took the backup
for a copy of the live file's head made before a cut ("holding no more than the first line the file held when last
looked at, which it has again") and named a copytruncate window no copytruncate made: a false loss (torture seeds
192211, 192235, 192243, 192263, found once the harness counted the windows named against the copytruncates). The
backup was born before the live file: a copy, made from a file, is born after it (copies.born_before, which the
other copy proofs asked already). A copytruncate of the same header-only live file still names its window (the
copy is born after the file)."""
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


def windows(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if "between the copy" in r.getMessage()]


def lines(f: Follower) -> list[bytes]:
    return [r for r in f.lines() if not r.startswith(b"#")]


@pytest.fixture
def folder(tmp_path):
    """An ext4 of its own (a loop mount): the proof needs birth times (statx btime), which /tmp may not give."""
    with ext4_folder(tmp_path) as d:
        probe = d / "probe"
        probe.touch()
        assert birth.born(str(probe), probe.stat().st_ino) is not None, "ext4 without birth times"
        probe.unlink()
        yield d


def rotate_create(log) -> None:
    """Log4j / logrotate `create` with one backup: the backup deleted, the live file renamed to it, a new live file
    given the header. (A pause first: birth times come from a clock that ticks every few ms.)"""
    time.sleep(0.02)
    backup = f"{log}.1"
    if os.path.exists(backup):
        os.unlink(backup)
    os.rename(log, backup)
    write(log, HEADER)


def test_a_header_only_backup_born_before_the_live_file_names_no_window(folder, caplog):
    log = folder / "app.log"
    write(log, HEADER, "line 0", "line 1")
    f = Follower([log], folder)
    try:
        with caplog.at_level(logging.INFO, logger="shipper.tail"):
            f.poll()
            rotate_create(log)  # the file read goes to app.log.1
            rotate_create(log)  # ... and is deleted (read whole); a header-only file, never seen, to app.log.1
            f.poll()
            write(log, "line 2", "line 3")  # the live file grows from its head
            f.poll()
        assert lines(f) == [b"line 0", b"line 1", b"line 2", b"line 3"]
        assert windows(caplog) == []
        assert f.tailer.losses == 0
    finally:
        f.tailer.close()


def test_a_copytruncate_of_the_header_only_live_file_still_names_its_window(folder, caplog):
    """The neighbour: the live file, read to its header, copied (the copy: that header) and cut, a line written
    between, given its header again and written on. The copy is born after the live file: the window is named."""
    log = folder / "app.log"
    write(log, HEADER)
    f = Follower([log], folder)
    try:
        with caplog.at_level(logging.INFO, logger="shipper.tail"):
            f.poll()
            time.sleep(0.02)
            shutil.copyfile(log, f"{log}.1")
            write(log, "line 0")  # between the copy and the truncation: in no file
            os.truncate(log, 0)
            write(log, HEADER, "line 1")
            f.poll()
        assert lines(f) == [b"line 1"]
        named = windows(caplog)
        assert len(named) == 1 and str(log) in named[0], named
    finally:
        f.tailer.close()
