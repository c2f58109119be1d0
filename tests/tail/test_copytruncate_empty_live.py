"""copytruncate of a live file the reader saw empty (torture seeds 7156 and 8102, session 8): the
lines written between the copy and the truncation are in no file, and the file's own bytes cannot
show the cut (nothing was read of it). The copy shows it: a new empty file under a rotated name
while the live file kept its inode (`create` would have renamed the live file itself). Found
grown since (so its mtime tells nothing), or after a restart (which forgets the mtime), the
window is warned and counted naming the file and the copy."""
from __future__ import annotations

import gzip
import logging
import os
import shutil

import pytest

from shipper.tail import scan_rules
from tests.tail.conftest import Follower
from tests.tail.test_files import write


@pytest.fixture(autouse=True)
def fast_missing(monkeypatch):
    monkeypatch.setattr(scan_rules, "MISSING_SECONDS", 0.0)

def lost(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith("data lost")]


def copytruncate(log, window: list[str], compress: bool = False) -> str:
    """logrotate copytruncate (+ compress) with `window` written between the copy and the truncation."""
    copy = f"{log}.1"
    shutil.copyfile(log, copy)
    write(log, *window)
    os.truncate(log, 0)
    if compress:
        with open(copy, "rb") as src, gzip.open(copy + ".gz", "wb") as dst:
            shutil.copyfileobj(src, dst)
        os.unlink(copy)
        copy += ".gz"
    return copy


@pytest.mark.parametrize("compress", [False, True])
def test_window_of_an_empty_live_file_written_again_is_warned_by_its_empty_copy(tmp_path, caplog, compress):
    d = tmp_path / "logs"
    d.mkdir()
    log = d / "app.log"
    log.write_text("")
    f = Follower([log], d)
    f.poll()  # empty
    copy = copytruncate(log, ["line 0", "line 1"], compress)
    write(log, "line 2", "line 3")  # written again before the next scan: it only grew, as far as it shows
    with caplog.at_level(logging.WARNING, logger="shipper.tail"):
        f.settle()
    assert f.lines() == [b"line 2", b"line 3"]
    warned = lost(caplog)
    assert len(warned) == 1 and str(log) in warned[0] and copy in warned[0] and "truncation" in warned[0], warned
    assert f.tailer.losses == 1


def test_window_of_an_empty_live_file_cut_while_stopped_is_warned_after_the_restart(tmp_path, caplog):
    """Seed 8102's second window, shrunk: the live file empty at the stop, copied, written, truncated,
    then the restart (whatever its mtime did, nothing remembers it)."""
    d = tmp_path / "logs"
    d.mkdir()
    log = d / "app.log"
    log.write_text("")
    f = Follower([log], d)
    f.poll()
    f.tailer.close()
    copy = copytruncate(log, ["line 0", "line 1"])
    f.restart()
    write(log, "line 2")
    with caplog.at_level(logging.WARNING, logger="shipper.tail"):
        f.settle()
    assert f.lines() == [b"line 2"]
    warned = lost(caplog)
    assert len(warned) == 1 and str(log) in warned[0] and copy in warned[0], warned
    assert f.tailer.losses == 1


def test_an_empty_file_under_a_rotated_name_beside_an_unchanged_live_file_is_no_loss(tmp_path, caplog):
    d = tmp_path / "logs"
    d.mkdir()
    log = d / "app.log"
    write(log, "line 0")
    f = Follower([log], d)
    f.poll()
    (d / "app.log.1").write_text("")  # not a copy of the live file: it holds a line the copy does not
    write(log, "line 1")
    with caplog.at_level(logging.WARNING, logger="shipper.tail"):
        f.settle()
    assert f.lines() == [b"line 0", b"line 1"]
    assert lost(caplog) == [] and f.tailer.losses == 0


def test_window_whose_empty_copy_is_deleted_before_any_scan_leaves_no_trace(tmp_path, caplog):
    """Seeds 7156 and 8102's first window, shrunk: the copy is gone (rotated out, a cleaner) before
    the reader looks again, and the live file was written again. Nothing on disk shows the cut: the
    file went from empty to its new lines. The harness does not ask a warning for this case
    (tests/torture/harness.py `unseen_windows`); what can be read is read once."""
    d = tmp_path / "logs"
    d.mkdir()
    log = d / "app.log"
    log.write_text("")
    f = Follower([log], d)
    f.poll()
    copy = copytruncate(log, ["line 0", "line 1"])
    os.unlink(copy)
    write(log, "line 2", "line 3")
    with caplog.at_level(logging.WARNING, logger="shipper.tail"):
        f.settle()
    assert f.lines() == [b"line 2", b"line 3"]


def test_window_of_an_empty_live_file_closed_over_the_budget_is_warned(tmp_path, caplog):
    """Torture seed 1069 (`--overtaken`): the live file, empty at the last scan, was closed (the descriptor
    budget, or idle) when copytruncate copied it empty and cut what was written after the copy. Not grown,
    its mtime moved: a cut, told by the mtime while the file was open only — closed, it went unsaid."""
    d = tmp_path / "logs"
    d.mkdir()
    log = d / "app.log"
    log.write_bytes(b"")
    past = os.stat(log).st_mtime - 10
    os.utime(log, (past, past))  # (its mtime before the writes, whatever the clock's tick)
    f = Follower([log], d)
    try:
        f.poll()
        live = next(x for x in f.tailer.prospector.files.values() if x.path == str(log))
        assert live.state is None and live.fh is not None
        live.fh.close()  # closed as the descriptor budget closes a file (Descriptors.open)
        live.fh = None
        copy = copytruncate(log, ["line 0", "line 1"])
        with caplog.at_level(logging.WARNING, logger="shipper.tail"):
            f.settle()
        assert f.lines() == []
        warned = lost(caplog)
        assert len(warned) == 1 and str(log) in warned[0], [r.getMessage() for r in caplog.records]
        assert f.tailer.losses == 1
        assert os.path.exists(copy)
    finally:
        f.tailer.close()


def test_an_empty_gz_gone_is_not_the_source_of_an_empty_copy(tmp_path, caplog):
    """Sweep seed 191216 (`--overtaken`, session 18): the live file empty, copytruncate with `compress` while the agent
    was stopped, a line written between the copy and the truncation, the copy an empty `.gz`. At the restart the
    window went unsaid: an empty `.gz` of the family, followed with no identity and deleted since, was taken for an
    empty file "an empty .gz may be made from" (logrotate `compress ifempty`, copies.empty_known). A `.gz` is not
    compressed again: only an empty plain file is such a source."""
    d = tmp_path / "logs"
    d.mkdir()
    log = d / "app.log"
    log.touch()
    f = Follower([log], d, max_open=1)
    try:
        f.poll()
        with gzip.open(d / "app.log.1.gz", "wb"):
            pass  # an empty log rotated and compressed
        earlier = log.stat().st_mtime_ns - 10**9
        os.utime(d / "app.log.1.gz", ns=(earlier, earlier))  # older: read first, then closed over the budget
        f.poll()
        assert [x.path for x in f.tailer.files.values() if x.fh is not None] == [str(log)]
        (d / "app.log.1.gz").unlink()  # a cleaner
        f.poll()
        f.tailer.close()  # stopped; while it is, copytruncate with compress:
        shutil.copyfile(log, d / "app.log.1")
        with open(log, "ab") as w:
            w.write(b'{"seq": 0, "msg": "between the copy and the truncation"}\n')
        os.truncate(log, 0)
        with open(d / "app.log.1", "rb") as src, gzip.open(d / "app.log.1.gz", "wb") as dst:
            shutil.copyfileobj(src, dst)
        (d / "app.log.1").unlink()
        f.tailer = f._new()
        with caplog.at_level(logging.WARNING, logger="shipper.tail"):
            f.poll(3)
        named = [r.getMessage() for r in caplog.records if "between the copy" in r.getMessage()]
        assert len(named) == 1 and str(log) in named[0], [r.getMessage() for r in caplog.records]
        assert f.lines() == []
    finally:
        f.tailer.close()


def test_window_of_an_empty_live_file_written_copied_and_cut_while_stopped_is_warned(tmp_path, caplog):
    """Torture seed 193132 (`--overtaken`, session 18's sweep; with or without the holder): the live file empty at
    the stop, then written, copied (the copy holds those lines) and cut back to empty, what was written between the
    copy and the cut in no file; the restart finds the file empty on its inode, as it was saved. Its mtime moved
    and it did not grow: it was cut, as truncation.rewritten_unseen tells a running agent. The empty file's saved
    state kept no mtime, so the window went unsaid."""
    d = tmp_path / "logs"
    d.mkdir()
    log = d / "app.log"
    log.touch()
    earlier = log.stat().st_mtime_ns - 10**9
    os.utime(log, ns=(earlier, earlier))  # (its mtime before the writes, whatever the clock's tick)
    f = Follower([log], d)
    try:
        f.poll()
        f.tailer.close()  # stopped (kill -9: what was committed stays)
        write(log, "line 0", "line 1")
        copy = copytruncate(log, ["line 2", "line 3"])
        f.tailer = f._new()
        with caplog.at_level(logging.WARNING, logger="shipper.tail"):
            f.settle()
        assert f.lines() == [b"line 0", b"line 1"]  # (the copy, read as a new file: nothing of it was read)
        warned = lost(caplog)
        assert len(warned) == 1 and str(log) in warned[0], [r.getMessage() for r in caplog.records]
        assert f.tailer.losses == 1
        assert os.path.exists(copy)
        f.restart()  # (said once: the next start does not say it again)
        with caplog.at_level(logging.WARNING, logger="shipper.tail"):
            f.settle()
        assert len(lost(caplog)) == 1 and f.lines() == [b"line 0", b"line 1"]
    finally:
        f.tailer.close()


def test_a_cut_of_an_empty_live_file_told_while_running_is_not_told_again_after_a_restart(tmp_path, caplog):
    """The running agent tells the cut by the mtime (truncation.rewritten_unseen); the placeholder it saved then keeps
    that mtime, so the next start finds nothing new."""
    d = tmp_path / "logs"
    d.mkdir()
    log = d / "app.log"
    log.touch()
    earlier = log.stat().st_mtime_ns - 10**9
    os.utime(log, ns=(earlier, earlier))
    f = Follower([log], d)
    try:
        f.poll()
        write(log, "line 0")
        os.truncate(log, 0)  # (its mtime is now's: later than the look)
        with caplog.at_level(logging.WARNING, logger="shipper.tail"):
            f.poll()
            assert len(lost(caplog)) == 1
            f.restart()
            f.settle()
        assert len(lost(caplog)) == 1, lost(caplog)
        assert f.lines() == []
    finally:
        f.tailer.close()
