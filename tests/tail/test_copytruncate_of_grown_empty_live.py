"""A live file empty when last read, written, copied and truncated by copytruncate with lines written between the
copy and the truncation, then written again before the next scan (torture seed 180271: 1 line of a seen file lost,
no loss warned). Nothing of it was read, so its own bytes show no truncation; the copy does: a new file under a
rotated name beside a live file that kept its inode (`create` renames it), holding bytes the live file no longer
starts with. The window is named; both files are read whole, once."""
from __future__ import annotations

import gzip
import logging
import os
import shutil

from tests.tail.conftest import Follower
from tests.tail.test_files import write


def warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def test_the_window_of_a_copytruncate_of_a_file_empty_when_last_read_is_named(tmp_path, caplog):
    d = tmp_path / "logs"
    d.mkdir()
    log = d / "app.log"
    log.touch()
    f = Follower([log], d)
    try:
        f.poll()  # empty
        write(log, *[f"line {i}" for i in range(4)])
        shutil.copyfile(log, d / "app.log.1")  # copytruncate
        write(log, "line 4")  # between the copy and the truncation: in no file
        os.truncate(log, 0)
        write(log, "line 5", "line 6")
        with caplog.at_level(logging.INFO, logger="shipper.tail"):
            f.settle()
        assert sorted(f.lines()) == [b"line 0", b"line 1", b"line 2", b"line 3", b"line 5", b"line 6"]
        named = [m for m in warnings(caplog) if "between the copy" in m]
        assert len(named) == 1 and str(log) in named[0] and str(d / "app.log.1") in named[0], warnings(caplog)
        assert f.tailer.losses == 1
    finally:
        f.tailer.close()


def test_a_copy_that_is_not_followed_by_a_truncation_names_no_loss(tmp_path, caplog):
    """The neighbour: logrotate `copy` (no truncation): the copy is a prefix of the live file; nothing lost, and
    nothing read twice."""
    d = tmp_path / "logs"
    d.mkdir()
    log = d / "app.log"
    log.touch()
    f = Follower([log], d)
    try:
        f.poll()
        write(log, *[f"line {i}" for i in range(4)])
        shutil.copyfile(log, d / "app.log.1")
        write(log, "line 4")
        with caplog.at_level(logging.INFO, logger="shipper.tail"):
            f.settle()
        assert sorted(f.lines()) == [f"line {i}".encode() for i in range(5)]
        assert warnings(caplog) == [] and f.tailer.losses == 0
    finally:
        f.tailer.close()


def test_the_window_is_named_when_the_budget_closed_the_live_file_during_the_scan(tmp_path, caplog):
    """Torture seed 185084 (`--overtaken`, a budget of 3): the same window, but the scan that found the copy had
    closed the live file over the descriptor budget before it compared the two (it opened the files followed with no
    identity yet, empty `.gz` backups of logrotate's `compress` with `ifempty`, to see whether they had one now):
    the window went unsaid. The live file is opened again for the comparison."""
    d = tmp_path / "logs"
    d.mkdir()
    log = d / "app.log"
    log.touch()
    f = Follower([log], d, max_open=1)
    try:
        f.poll()
        earlier = log.stat().st_mtime_ns - 10**9
        for name in ("app.log.1.gz", "app.log.2.gz"):  # empty logs rotated and compressed
            with gzip.open(d / name, "wb"):
                pass
            os.utime(d / name, ns=(earlier, earlier))  # older: the live file is read last, the one left open
        f.poll()
        assert [x.path for x in f.tailer.files.values() if x.fh is not None] == [str(log)]
        write(log, *[f"line {i}" for i in range(3)])
        shutil.copyfile(log, d / "app.log.3")  # copytruncate
        write(log, "line 3")  # between the copy and the truncation: in no file
        os.truncate(log, 0)
        write(log, "line 4", "line 5")
        with caplog.at_level(logging.INFO, logger="shipper.tail"):
            f.poll()
        assert sorted(f.lines()) == [b"line 0", b"line 1", b"line 2", b"line 4", b"line 5"]
        named = [m for m in warnings(caplog) if "between the copy" in m]
        assert len(named) == 1 and str(log) in named[0] and str(d / "app.log.3") in named[0], warnings(caplog)
    finally:
        f.tailer.close()
