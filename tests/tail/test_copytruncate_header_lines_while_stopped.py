"""A live file holding only a header of two lines (a banner above a column line), read whole, then copytruncated while
the agent is stopped and written again (its header, then lines): its bytes up to what was read are the same as
before, so the restart took it for the content read, grown — the window between the copy and the truncation went
unnamed (exam29b, tests/tail/test_attack29_two_line_header_copytruncate_while_stopped_unnamed.py). The copy shows the
cut, as one holding a one-line header does (copies.head_copy_of_grown): it holds exactly what was read, and the read
mark covers all of it (copies.head_read)."""
from __future__ import annotations

import logging
import shutil

import pytest

from shipper.tail import scan_rules
from shipper.tail.state import FileState
from tests.tail.conftest import Follower
from tests.tail.test_copytruncate_empty_live import copytruncate
from tests.tail.test_files import write

BANNER, COLUMNS = "#Version: 1.0", "#Fields: time user action"


@pytest.fixture(autouse=True)
def fast_missing(monkeypatch):
    monkeypatch.setattr(scan_rules, "MISSING_SECONDS", 0.0)


# (A banner above the column line of a wide audit CSV: four lines, 494 bytes, more than the read mark's 256: exam29b.)
LONG = [BANNER, "#Software: audit exporter 4.2 (build 2026-11-30, a long banner line of its own)",
        "#Fields: " + " ".join(f"field_{i:02d}_name" for i in range(26)), "#Date: 2026-12-07 00:00:00"]

# (An HTML layout's head, one tag a line, past HEAD_MAX (1 KiB): fifteen lines, ~3,000 bytes: exam30b.)
HTML = [f"<!-- layout header line {i}: " + "h" * 170 + " -->" for i in range(15)]


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("header", [[BANNER, COLUMNS], LONG, HTML],
                         ids=["two-lines", "four-lines-494-bytes", "fifteen-lines-3000-bytes"])
def test_a_two_line_header_copytruncated_while_stopped_names_the_window(tmp_path, caplog, compress, header):
    d = tmp_path / "logs"
    d.mkdir()
    log = d / "app.log"
    write(log, *header)
    f = Follower([log], d)
    try:
        f.poll()  # read, saved; then stopped: the rotation comes before the next start
        copy = copytruncate(log, ["window 0", "window 1"], compress)
        write(log, *header, "line 0", "line 1")
        f.restart()
        with caplog.at_level(logging.WARNING, logger="shipper.tail"):
            f.settle()
        assert [x for x in f.lines() if not x.startswith((b"#", b"<!--"))] == [b"line 0", b"line 1"]
        windows = [r.getMessage() for r in caplog.records
                   if r.getMessage().startswith("data lost") and copy in r.getMessage() and "truncation" in r.getMessage()]
        assert len(windows) == 1, caplog.text
        assert f.tailer.losses == 1
    finally:
        f.tailer.close()


def test_a_two_line_header_grown_with_no_copy_is_no_loss(tmp_path, caplog):
    d = tmp_path / "logs"
    d.mkdir()
    log = d / "app.log"
    write(log, BANNER, COLUMNS)
    f = Follower([log], d)
    try:
        f.poll()
        f.restart()
        write(log, "line 0", "line 1")
        with caplog.at_level(logging.WARNING, logger="shipper.tail"):
            f.settle()
        assert [x for x in f.lines() if not x.startswith(b"#")] == [b"line 0", b"line 1"]
        assert f.tailer.losses == 0 and not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text
    finally:
        f.tailer.close()


def test_a_two_line_header_copytruncated_while_running_names_the_window(tmp_path, caplog):
    """The same between two scans of a running agent: the file grew as far as its size and bytes show. (Told by the
    head alone while running, it went unnamed: a scan between the copy and the cut would have named the window a
    second time, torture seeds 300009, 300247, until FileState.head_window kept the copy's length.)"""
    d = tmp_path / "logs"
    d.mkdir()
    log = d / "app.log"
    write(log, BANNER, COLUMNS)
    f = Follower([log], d)
    try:
        f.poll()
        copy = copytruncate(log, ["window 0", "window 1"])
        write(log, BANNER, COLUMNS, "line 0", "line 1")
        with caplog.at_level(logging.WARNING, logger="shipper.tail"):
            f.settle()
        assert [x for x in f.lines() if not x.startswith(b"#")] == [b"line 0", b"line 1"]
        windows = [r.getMessage() for r in caplog.records
                   if r.getMessage().startswith("data lost") and copy in r.getMessage() and "truncation" in r.getMessage()]
        assert len(windows) == 1, caplog.text
        assert f.tailer.losses == 1
    finally:
        f.tailer.close()


def test_a_head_window_saved_true_before_session_30_is_a_copy_of_the_head():
    """A checkpoint written before head_window kept the copy's length says `true`: a copy of the head alone."""
    value = FileState(fid="a", dev=1, ino=2, head_len=14, head="h", offset=30, mark="m", path="p", family="p").to_json()
    value["head_window"] = True
    s = FileState.from_json(value)
    assert s is not None and s.window_copy_len() == 14


def test_a_log_of_many_lines_copied_while_stopped_and_grown_is_no_header(tmp_path, caplog):
    """The bound's other side: what was read is more than a header (past HEADER_MAX and more than HEADER_LINES lines),
    copied by logrotate `copy` (no cut) while the agent was stopped, then written on: no window, nothing read again."""
    d = tmp_path / "logs"
    d.mkdir()
    log = d / "app.log"
    body = [f"event {i} " + "e" * 300 for i in range(20)]
    write(log, *body)
    f = Follower([log], d)
    try:
        f.poll()
        shutil.copyfile(log, d / "app.log.1")
        write(log, "line 0", "line 1")
        f.restart()
        with caplog.at_level(logging.WARNING, logger="shipper.tail"):
            f.settle()
        assert sorted(f.lines()) == sorted(x.encode() for x in [*body, "line 0", "line 1"])
        assert f.tailer.losses == 0 and not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text
    finally:
        f.tailer.close()
