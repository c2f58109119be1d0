"""Torture seed 500289 (`make torture SEED=500000`, with the holder and without): copytruncate of a live file read to
its end (3 lines written between the copy and the cut, the header written again), then a second copytruncate (the copy
holds the header alone) under a writer without O_APPEND, which goes on at its old offset: a hole at the file's start.
The agent, killed before it read again, finds at the restart what it read whole in the first copy, and the hole at the
live file's start no longer than that copy: harvester.cut_after_copy took that for "nothing written between the copy
and the cut" and named no window, the first window's lines lost unsaid. A cut under a writer without O_APPEND leaves a
hole as long as the file was when cut, never shorter than a copy made of it before: a shorter hole was left by a later
cut, and says nothing of this one's window."""
from __future__ import annotations

import logging
import os
import shutil

import pytest

from shipper.tail import scan_rules
from tests.tail.conftest import Follower

HEADER = b"# time level logger message (a header every file shares)\n"


@pytest.fixture(autouse=True)
def fast_missing(monkeypatch):
    monkeypatch.setattr(scan_rules, "MISSING_SECONDS", 0.0)


def lines(first: int, n: int) -> bytes:
    return b"".join(b"seq %d %s\n" % (i, b"x" * (i % 13)) for i in range(first, first + n))


def append(path, data: bytes) -> None:
    with open(path, "ab") as w:
        w.write(data)


def test_a_hole_shorter_than_the_copy_is_a_later_cut_and_the_window_is_named(tmp_path, caplog):
    d = tmp_path / "logs"
    d.mkdir()
    log = d / "app.log"
    log.write_bytes(HEADER + lines(0, 20))
    f = Follower([log], d)
    try:
        f.poll()  # read to its end
        shutil.copyfile(log, d / "app.log.1")  # copytruncate 1: the copy ...
        append(log, lines(20, 3))  # ... 3 lines in the window, lost ...
        os.truncate(log, 0)  # ... the cut, the header again
        append(log, HEADER)
        os.rename(d / "app.log.1", d / "app.log.2")  # copytruncate 2, its copy the header alone
        shutil.copyfile(log, d / "app.log.1")
        size = os.path.getsize(log)
        os.truncate(log, 0)
        with open(log, "r+b") as w:  # a writer without O_APPEND goes on at its offset: a hole before its lines
            w.seek(size)
            w.write(lines(23, 5))
        f.restart()  # (a kill -9 before the agent read again)
        with caplog.at_level(logging.WARNING, logger="shipper.tail"):
            for _ in range(3):
                f.poll()
        windows = [r.getMessage() for r in caplog.records if "between the copy" in r.getMessage()]
        assert windows, caplog.text
        got = [x for x in f.lines() if not x.startswith(b"#")]
        assert len(got) == len(set(got)) and set(lines(23, 5).splitlines()) <= set(got), got
    finally:
        f.tailer.close()
