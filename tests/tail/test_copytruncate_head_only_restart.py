"""copytruncate of a live file read no further than its header line, made while the agent was stopped
(torture seed 317): the file is cut and given its header again, so its bytes (the same header, the same
size) show nothing; only its mtime moved. While the agent runs, that is told (Prospector._rewritten_unseen);
a restart forgot the mtime, and the lines written between the copy and the truncation went unsaid."""
from __future__ import annotations

import gzip
import logging
import os
import shutil

import pytest

from shipper.tail import scan_rules
from tests.tail.conftest import Follower
from tests.tail.test_files import write

HEADER = "# time level logger message"


@pytest.fixture
def fast_missing(monkeypatch):
    monkeypatch.setattr(scan_rules, "MISSING_SECONDS", 0.0)


def records(f: Follower) -> list[bytes]:
    return [r for r in f.lines() if not r.startswith(b"#")]


@pytest.mark.parametrize("compress", [False, True])
def test_a_head_only_live_file_copytruncated_while_stopped_warns_the_window(tmp_path, fast_missing, caplog, compress):
    d = tmp_path / "logs"
    d.mkdir()
    log = d / "app.log"
    write(log, HEADER)
    f = Follower([log], d)
    try:
        f.poll()  # the header alone: read no further
        f.tailer.flush(f.emit)
        f.restart()  # (stopped)
        shutil.copyfile(log, d / "app.log.1")  # copytruncate: the copy (the header) …
        write(log, "line 0", "line 1")  # … lines written after the copy …
        os.truncate(log, 0)  # … cut: in no file
        write(log, HEADER)  # the writer's header again: the same bytes, the same size
        if compress:
            with open(d / "app.log.1", "rb") as src, gzip.open(d / "app.log.1.gz", "wb") as dst:
                dst.write(src.read())
            os.unlink(d / "app.log.1")
        with caplog.at_level(logging.WARNING, logger="shipper.tail"):
            f.settle()  # said now: the live file may be rotated away before it is written again
            lost = [r.getMessage() for r in caplog.records if r.getMessage().startswith("data lost")]
            assert len(lost) == 1 and str(log) in lost[0], [r.getMessage() for r in caplog.records]
            write(log, "line 2")
            f.settle()
        assert records(f) == [b"line 2"]
        lost = [r.getMessage() for r in caplog.records if r.getMessage().startswith("data lost")]
        assert len(lost) == 1, [r.getMessage() for r in caplog.records]  # (once)
        assert f.tailer.losses == 1
    finally:
        f.tailer.close()


def test_a_head_only_live_file_untouched_while_stopped_is_no_loss(tmp_path, fast_missing, caplog):
    """Its mtime unmoved (nothing written while stopped), or moved because it grew: no truncation told."""
    d = tmp_path / "logs"
    d.mkdir()
    log = d / "app.log"
    write(log, HEADER)
    f = Follower([log], d)
    try:
        f.poll()
        f.tailer.flush(f.emit)
        f.restart()
        with caplog.at_level(logging.WARNING, logger="shipper.tail"):
            f.settle()
            f.restart()
            write(log, "line 0")
            f.settle()
        assert records(f) == [b"line 0"]
        assert [r.getMessage() for r in caplog.records] == []
        assert f.tailer.losses == 0
    finally:
        f.tailer.close()
