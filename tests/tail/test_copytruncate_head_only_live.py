"""copytruncate of a live file read no further than its head (a header line a CSV writer puts at the
top of an empty file), with lines written between the copy and the truncation, and the file written
again (its header, then lines) before the next scan: the copy holds exactly the header, the live
file kept its inode and only grew as far as its size, mtime and bytes show. The lines of that window
are in no file. Silent before (found by hand, session 8): the copy was proven "a copy of the file's
head" (or waited and was read as a possible repeat), and nobody warned the window. Now the copy shows
the cut as an empty copy does (test_copytruncate_empty_live.py): warned and counted, naming the
file and the copy (issue 21: a loss of unknown size)."""
from __future__ import annotations

import logging

import pytest

from shipper.tail import scan_rules
from tests.tail.conftest import Follower
from tests.tail.test_copytruncate_empty_live import copytruncate
from tests.tail.test_files import write

HEADER = "time,user,action,object"


@pytest.fixture(autouse=True)
def fast_missing(monkeypatch):
    monkeypatch.setattr(scan_rules, "MISSING_SECONDS", 0.0)


def warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


@pytest.mark.parametrize("compress", [False, True])
def test_window_of_a_header_only_live_file_written_again_is_warned_by_its_header_only_copy(tmp_path, caplog,
                                                                                           compress):
    d = tmp_path / "logs"
    d.mkdir()
    log = d / "app.log"
    write(log, HEADER)
    f = Follower([log], d)
    f.poll()  # the header only
    copy = copytruncate(log, ["window 0", "window 1"], compress)
    write(log, HEADER, "line 0", "line 1")  # written again before the next scan: it only grew, as far as it shows
    with caplog.at_level(logging.WARNING, logger="shipper.tail"):
        f.settle()
    assert [x for x in f.lines() if x != HEADER.encode()] == [b"line 0", b"line 1"]
    warned = warnings(caplog)
    assert len(warned) == 1 and warned[0].startswith("data lost") and str(log) in warned[0] and copy in warned[0] \
        and "truncation" in warned[0], warned
    assert f.tailer.losses == 1


def test_window_warned_when_the_header_is_the_files_own_first_line(tmp_path, caplog):
    """An older backup of the family starts otherwise (an older layout), so the live file's first
    line is known as its own: the copy holding exactly it was proven "a copy of the file's head"
    and left alone, silently."""
    d = tmp_path / "logs"
    d.mkdir()
    log = d / "app.log"
    write(d / "app.log.2", "time,user,action", "old 0")  # history (skipped at the first look)
    write(log, HEADER)
    f = Follower([log], d)
    f.poll()
    copy = copytruncate(log, ["window 0"])
    write(log, HEADER, "line 0")
    with caplog.at_level(logging.WARNING, logger="shipper.tail"):
        f.settle()
    assert [x for x in f.lines() if x != HEADER.encode()] == [b"line 0"]
    warned = warnings(caplog)
    assert len(warned) == 1 and warned[0].startswith("data lost") and str(log) in warned[0] and copy in warned[0], \
        warned
    assert f.tailer.losses == 1


def test_a_header_only_live_file_that_only_grows_warns_nothing(tmp_path, caplog):
    """The same live file only appended to: no copy shows a cut, nothing is warned."""
    d = tmp_path / "logs"
    d.mkdir()
    log = d / "app.log"
    write(log, HEADER)
    f = Follower([log], d)
    f.poll()
    write(log, "line 0", "line 1")
    with caplog.at_level(logging.WARNING, logger="shipper.tail"):
        f.settle()
    assert [x for x in f.lines() if x != HEADER.encode()] == [b"line 0", b"line 1"]
    assert warnings(caplog) == [] and f.tailer.losses == 0
