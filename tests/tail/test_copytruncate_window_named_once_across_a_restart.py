"""Torture seeds 197052 and 197158 (session 23's `SEED=197000 N=200 STEPS=40 ARGS=--overtaken`, with the holder): a
copytruncate window named with its copy before a kill -9 was named again with the same copy after it, one window
counted twice, a false loss. The copies a window was named with (copies.window_named_by: by inode and birth time)
were kept in memory only; they are kept in the checkpoint now (`window-copy:<device>:<inode>`), till the copy is
listed no more. A copy made while the agent was away is another file: its window is still named
(test_copytruncate_empty_live.py)."""
from __future__ import annotations

import logging
import os
import shutil

import pytest

from shipper.tail import birth, scan_rules
from tests.tail.conftest import Follower
from tests.tail.test_files import write


@pytest.fixture(autouse=True)
def fast_missing(monkeypatch):
    monkeypatch.setattr(scan_rules, "MISSING_SECONDS", 0.0)


def _windows(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if "between the copy" in r.getMessage()]


def test_a_window_named_before_a_kill_is_not_named_again_with_the_same_copy_after_it(ext4_tmp, caplog):
    # (On an ext4 of its own: a copy is known by its birth time too, which /tmp may not keep.)
    d = ext4_tmp / "logs"
    d.mkdir()
    log = d / "app.log"
    log.write_bytes(b"")
    f = Follower([log], d)
    try:
        f.poll()  # empty
        shutil.copyfile(log, d / "app.log.1")  # copytruncate: the copy, empty …
        assert birth.born(str(d / "app.log.1"), os.stat(d / "app.log.1").st_ino) is not None
        write(log, "line 0")  # … a line written between the copy and the truncation, and read
        with caplog.at_level(logging.WARNING, logger="shipper.tail"):
            f.poll()
            os.truncate(log, 0)  # … the truncation
            f.poll()
            assert len(_windows(caplog)) == 1, _windows(caplog)
            write(log, "line 1")
            f.restart()  # (kill -9: what was committed stays)
            f.poll(2)
        assert len(_windows(caplog)) == 1, _windows(caplog)
        assert f.lines() == [b"line 0", b"line 1"]
    finally:
        f.tailer.close()
