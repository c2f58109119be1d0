"""Torture seed 300051 (`SEED=300000 --overtaken --no-holder`): copytruncate of a live file read to its end (a header
every file shares, written again after the cut), then a `create` rotation deletes the oldest backup (followed, closed
over the descriptor budget), renames the cut file to app.log.1 and makes the writer's next file, on the freed inode
(ext4). The next scan lists them, and a rotation overtakes it before it compares them: the cut file goes to app.log.2,
the writer's next file (listed live) to app.log.1, where the scan finds it as it looks for the backup its inode had.
The cut file is found cut, its window named by its copy (right); copies.later_copy_of_cut then took the writer's next
file, under app.log.1 now, a step behind the cut file's listed name, for a later copytruncate's copy: a window no
copytruncate made. Listed at the live name while the cut file was under a rotated one, it was live after it."""
from __future__ import annotations

import logging
import os
import shutil

import pytest

from shipper.tail import scan_rules
from tests.tail.conftest import Follower
from tests.tail.test_overtaken_scan import overtake

HEADER = b"# time level logger message (a header every file shares)\n"


@pytest.fixture(autouse=True)
def fast_missing(monkeypatch):
    monkeypatch.setattr(scan_rules, "MISSING_SECONDS", 0.0)


def lines(first: int, n: int) -> bytes:
    return b"".join(b"seq %d %s\n" % (i, b"x" * (i % 13)) for i in range(first, first + n))


def append(path, data: bytes) -> None:
    with open(path, "ab") as w:
        w.write(data)


def rotate(d, backups: int = 3) -> None:
    """`create`: the backups shifted (the oldest deleted), the live file renamed to app.log.1 and made again."""
    if (d / f"app.log.{backups}").exists():
        os.unlink(d / f"app.log.{backups}")
    for i in range(backups - 1, 0, -1):
        if (d / f"app.log.{i}").exists():
            os.rename(d / f"app.log.{i}", d / f"app.log.{i + 1}")
    os.rename(d / "app.log", d / "app.log.1")
    (d / "app.log").write_bytes(HEADER)


def test_the_live_file_renamed_during_the_scan_is_no_later_copy_of_the_cut_one(ext4_tmp, caplog):
    d = ext4_tmp / "logs"
    d.mkdir()
    log = d / "app.log"
    (d / "app.log.3").write_bytes(HEADER + lines(0, 3))  # a backup, followed, closed
    log.write_bytes(HEADER + lines(3, 30))
    f = Follower([log], d)
    try:
        f.poll()  # read to its end
        backup = os.stat(d / "app.log.3").st_ino
        for x in f.tailer.files.values():  # the backup closed, as the descriptor budget closes it
            if x.ino == backup:
                x.fh.close()
                x.fh = None
        with caplog.at_level(logging.WARNING, logger="shipper.tail"):
            shutil.copyfile(log, d / "app.log.1")  # copytruncate: the copy, the cut, the header again
            os.truncate(log, 0)
            append(log, HEADER)
            rotate(d)  # `create`: the backup deleted, the cut file to app.log.1, the copy to app.log.2
            assert os.stat(log).st_ino == backup, "the writer's next file on the backup's inode (ext4)"
            append(log, lines(33, 7))
            overtake(f, lambda: rotate(d))  # the rotation that overtakes the next scan
            for _ in range(3):
                f.poll()
        windows = [r.getMessage() for r in caplog.records if "between the copy" in r.getMessage()]
        assert len(windows) == 1, windows
        got = [x for x in f.lines() if not x.startswith(b"#")]
        assert len(got) == len(set(got)) and set(lines(3, 37).splitlines()) <= set(got), got
    finally:
        f.tailer.close()
