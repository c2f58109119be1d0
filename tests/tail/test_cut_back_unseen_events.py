"""A log written to and cut back to a size it had before any read saw what was written (truncation.cut_back_unseen),
in process: the watcher's events given to the tailer as the file source gives them (Tailer.noted), its looks as the
gather window's (Tailer.look_at). What is such a cut is named; what only moves the change time is not: a touch then a
write, a chmod then a write (each a look finding the file as long as before, its change time moved)."""
from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from tests.tail.conftest import Follower


def _lines(first: int, n: int) -> bytes:
    return b"".join(b'{"n": %d}\n' % i for i in range(first, first + n))


def _append(path: Path, data: bytes) -> None:
    with open(path, "ab") as w:
        w.write(data)


def _said(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if "lost" in r.getMessage()]


def _read_to_its_end(tmp_path: Path) -> tuple[Path, Follower]:
    log = tmp_path / "app.log"
    log.write_bytes(_lines(0, 20))
    f = Follower([log], tmp_path)
    f.poll()
    assert len(f.lines()) == 20
    time.sleep(0.05)  # (past the file system's clock tick: what comes next moves its change time)
    return log, f


def _events(f: Follower, log: Path, written: bool, touched: bool) -> None:
    """A gather window: the look at what was written to, then its events, then the read."""
    f.tailer.look_at({str(log)})
    f.tailer.noted({str(log)} if written else set(), {str(log)} if touched else set(), False)
    f.tailer.read_changed({str(log)}, f.emit, f.stop)


def test_lines_cut_back_with_the_mtime_set_back_are_named(tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.INFO, logger="shipper.tail")
    log, f = _read_to_its_end(tmp_path)
    before = os.stat(log)
    _append(log, _lines(100, 5))
    os.truncate(log, before.st_size)
    os.utime(log, ns=(before.st_atime_ns, before.st_mtime_ns))
    _events(f, log, written=True, touched=True)
    (msg,) = _said(caplog)
    assert msg.startswith("data possibly lost") and "mtime set back" in msg and str(before.st_size) in msg, msg
    _append(log, _lines(20, 2))
    _events(f, log, written=True, touched=False)
    assert len(f.lines()) == 22 and len(_said(caplog)) == 1  # said once


def test_lines_cut_back_to_the_size_read_are_named(tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.INFO, logger="shipper.tail")
    log, f = _read_to_its_end(tmp_path)
    size = log.stat().st_size
    _append(log, _lines(100, 5))
    os.truncate(log, size)  # (the mtime moved, the size as it was: the bytes read all there)
    _events(f, log, written=True, touched=False)
    (msg,) = _said(caplog)
    assert msg.startswith("data possibly lost") and "its size as it was" in msg, msg


def test_a_touch_then_a_write_is_no_cut(tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.INFO, logger="shipper.tail")
    log, f = _read_to_its_end(tmp_path)
    st = log.stat()
    os.utime(log, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    _events(f, log, written=False, touched=True)
    _append(log, _lines(20, 3))
    _events(f, log, written=True, touched=False)
    assert len(f.lines()) == 23 and _said(caplog) == []


def test_a_chmod_then_a_write_is_no_cut(tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.INFO, logger="shipper.tail")
    log, f = _read_to_its_end(tmp_path)
    os.chmod(log, 0o600)
    _events(f, log, written=False, touched=True)
    _append(log, _lines(20, 3))
    _events(f, log, written=True, touched=True)
    assert len(f.lines()) == 23 and _said(caplog) == []


def test_a_create_rotation_is_no_cut(tmp_path: Path, caplog) -> None:
    # logrotate `create 0640 …`: the log renamed away (its change time moves, its size and mtime do not), a new file
    # made at its name, chmodded and written (IN_ATTRIB, IN_MODIFY by that name) before a scan took the rename in.
    caplog.set_level(logging.INFO, logger="shipper.tail")
    log, f = _read_to_its_end(tmp_path)
    os.rename(log, tmp_path / "app.log.1")
    log.write_bytes(b"")
    os.chmod(log, 0o640)
    _append(log, _lines(20, 3))
    _events(f, log, written=True, touched=True)
    f.settle()
    assert sorted(f.lines()) == sorted(_lines(0, 23).splitlines()) and _said(caplog) == []
