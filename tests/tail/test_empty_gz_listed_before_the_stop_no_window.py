"""Torture seed 192014 (`--overtaken`, with the holder): the empty .gz a `create` rotation made (`delaycompress`, of
an empty backup) listed while the agent ran, beside the new live file, empty then; the live file written, then a
kill -9. At the restart the .gz was taken for the copy of a copytruncate of the live file, empty when last read and
grown since (copies.empty_copy_of_grown): a window named where no copytruncate ran, a false loss. The last run had
listed that .gz (its placeholder, on the same inode and generation): no copy made while the agent was away. A copy
made while it was away is a new file, its window still named (test_copytruncate_empty_live.py)."""
from __future__ import annotations

import gzip
import logging
import os

import pytest

from shipper.tail import scan_rules
from tests.tail.conftest import Follower
from tests.tail.test_files import write


@pytest.fixture(autouse=True)
def fast_missing(monkeypatch):
    monkeypatch.setattr(scan_rules, "MISSING_SECONDS", 0.0)


def test_an_empty_gz_listed_before_the_stop_is_no_copy_of_the_live_file_grown_since(tmp_path, caplog):
    d = tmp_path / "logs"
    d.mkdir()
    log = d / "app.log"
    write(log, "line 0")
    f = Follower([log], d)
    try:
        f.poll()
        # `create` + `delaycompress`: the live file renamed, a new one made; an empty backup compressed
        os.rename(log, d / "app.log.1")
        log.write_bytes(b"")
        with gzip.open(d / "app.log.2.gz", "wb"):
            pass
        f.poll(2)
        write(log, "line 1", "line 2")  # written, no copy, no cut
        f.restart()  # (kill -9: what was committed stays)
        with caplog.at_level(logging.WARNING, logger="shipper.tail"):
            f.poll(2)
        named = [r.getMessage() for r in caplog.records if "between the copy" in r.getMessage()]
        assert named == []
        assert f.tailer.losses == 0
        assert f.lines() == [b"line 0", b"line 1", b"line 2"]
    finally:
        f.tailer.close()
