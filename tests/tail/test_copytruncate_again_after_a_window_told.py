"""Torture seed 97 (`make torture`'s default seeds, with the holder; 60 steps): a live file copytruncated twice. The
first window is told (the file found cut, its content in the copy: Followed.cut_seen, so that a hole at its start is
no news), the file left empty. Then copied again, empty, a line written in the window, cut and given its header
again, and written on: the empty copy beside the grown file is the second window's proof
(copies.empty_copy_of_grown). copies.grew_at_head refused every file told cut once, for good: the second window,
and every later one of that inode (copytruncate keeps it), went without a word."""
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


def _windows(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if "between the copy" in r.getMessage()]


def test_a_second_copytruncate_of_a_file_told_cut_once_is_named(tmp_path, caplog):
    d = tmp_path / "logs"
    d.mkdir()
    log = d / "app.log"
    log.write_bytes(HEADER + b"line 0\n")
    f = Follower([log], d)
    try:
        f.poll()
        with caplog.at_level(logging.WARNING, logger="shipper.tail"):
            # copytruncate 1: copied, a line in the window, cut to nothing
            shutil.copyfile(log, d / "app.log.1")
            with open(log, "ab") as w:
                w.write(b"lost 1\n")
            os.truncate(log, 0)
            f.poll()
            assert len(_windows(caplog)) == 1, caplog.text
            # copytruncate 2 of the empty file: the empty copy, a line in the window, cut, the header again, written on
            os.rename(d / "app.log.1", d / "app.log.2")
            shutil.copyfile(log, d / "app.log.1")
            with open(log, "ab") as w:
                w.write(b"lost 2\n")
            os.truncate(log, 0)
            with open(log, "ab") as w:
                w.write(HEADER + b"line 1\n")
            f.poll()
            f.poll()
        windows = _windows(caplog)
        assert len(windows) == 2 and "app.log.1 " in windows[1], windows
        assert [x for x in f.lines() if not x.startswith(b"#")] == [b"line 0", b"line 1"]
    finally:
        f.tailer.close()
