"""The size a look saw a followed file at (shipper/tail/looks.py) is kept in its checkpoint (FileState.looked): a stop
saves it (Tailer.unsaved_states), a start reads it back for the inode it was seen on, so a cut above the read position
found only after the restart is a named loss with its size. What is no such cut stays silent after a restart: the file
only grown, rotated, copytruncated, a cut already named. (The reload's hand-over and the agent's stop, end to end:
tests/tail/test_attack26_cut_above_read_position_across_a_reload_unsaid.py, …_across_a_stop_unsaid.py.)"""
from __future__ import annotations

import logging
import os
from pathlib import Path

from shipper.tail.state import FileState
from tests.tail.conftest import Follower


def _lines(first: int, n: int) -> bytes:
    return b"".join(b'{"seq": %d, "pad": "%s"}\n' % (i, b"x" * 40) for i in range(first, first + n))


def _append(path: Path, data: bytes) -> None:
    with open(path, "ab") as w:
        w.write(data)


def _said(caplog, what: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if what in r.getMessage()]


def _looked_at_and_stopped(tmp_path: Path) -> tuple[Follower, Path, int]:
    """20 lines read; 100 more written and looked at (the reader held back), not read; the stop saves what it saves
    with an output down."""
    log = tmp_path / "app.log"
    log.write_bytes(_lines(0, 20))
    fl = Follower([log], tmp_path)
    fl.poll()
    assert fl.seqs() == list(range(20))
    _append(log, _lines(20, 100))
    fl.tailer.look_at_all()  # (the file source's look while ctx.emit holds the reader)
    fl.state.update(fl.tailer.unsaved_states(dict(fl.state)))
    fl.restart()
    return fl, log, log.stat().st_size


def test_a_cut_above_the_read_position_while_stopped_is_named_with_its_size(tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.INFO, logger="shipper.tail")
    fl, log, looked = _looked_at_and_stopped(tmp_path)
    cut = len(_lines(0, 70))
    os.truncate(log, cut)  # trimmed while the agent was stopped, above what was read
    fl.poll()
    assert fl.seqs() == list(range(70))
    (msg,) = _said(caplog, "data lost")
    assert "cut in place above what had been read" in msg and f"{looked - cut} bytes or more" in msg, msg
    assert fl.tailer.losses == 1 and fl.lost == looked - cut
    # Named once: saved with its cut named, the next start has nothing to compare
    fl.state.update(fl.tailer.unsaved_states(dict(fl.state)))
    fl.restart()
    fl.poll()
    assert fl.tailer.losses == 0 and len(_said(caplog, "data lost")) == 1


def test_grown_only_across_the_restart_names_nothing(tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.INFO, logger="shipper.tail")
    fl, log, _ = _looked_at_and_stopped(tmp_path)
    _append(log, _lines(120, 5))
    fl.poll()
    assert fl.seqs() == list(range(125))
    assert _said(caplog, "lost") == [] and fl.lost == 0


def test_rotated_while_stopped_names_nothing(tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.INFO, logger="shipper.tail")
    fl, log, _ = _looked_at_and_stopped(tmp_path)
    os.rename(log, tmp_path / "app.log.1")  # logrotate create: the old log read on under its rotated name
    log.write_bytes(_lines(120, 5))
    fl.poll(2)
    assert sorted(fl.seqs()) == list(range(125))
    assert _said(caplog, "lost") == [] and fl.lost == 0


def test_copytruncated_while_stopped_is_no_cut_above(tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.INFO, logger="shipper.tail")
    fl, log, _ = _looked_at_and_stopped(tmp_path)
    (tmp_path / "app.log.1").write_bytes(log.read_bytes())  # the copy holds all of it
    os.truncate(log, 0)
    _append(log, _lines(120, 5))
    fl.poll(2)
    assert sorted(fl.seqs()) == list(range(125))
    assert _said(caplog, "above what had been read") == [] and fl.lost == 0


def test_zeros_at_the_end_are_not_kept_as_a_size_seen(tmp_path: Path, caplog) -> None:
    # Log4j 2's memory-mapped file: grown with zeros, cut back to its lines at close (here while the agent is stopped)
    caplog.set_level(logging.INFO, logger="shipper.tail")
    log = tmp_path / "app.log"
    log.write_bytes(_lines(0, 20))
    fl = Follower([log], tmp_path)
    fl.poll()
    with open(log, "r+b") as w:
        w.truncate(len(_lines(0, 20)) + 8192)
        w.seek(len(_lines(0, 20)))
        w.write(_lines(20, 10))
    fl.tailer.look_at_all()
    fl.state.update(fl.tailer.unsaved_states(dict(fl.state)))
    fl.restart()
    os.truncate(log, len(_lines(0, 30)))  # the close
    fl.poll()
    assert fl.seqs() == list(range(30))
    assert _said(caplog, "lost") == [] and fl.lost == 0


def test_a_state_with_a_field_of_a_later_version_is_read(tmp_path: Path) -> None:
    # A field added with a default keeps the layout's version: a version before it reads such a value (its key ignored),
    # as this one reads a value written before `looked` existed.
    value = FileState("x", 1, 2, 3, "h", 10, "m", "p", "p", looked=400).to_json()
    assert FileState.from_json(value).looked == 400
    assert FileState.from_json({**value, "a_later_field": [1, 2]}) == FileState.from_json(value)
    del value["looked"]
    assert FileState.from_json(value).looked == 0


def _written_and_cut_back_unseen(tmp_path: Path, chmod_only: bool = False) -> tuple[Follower, Path]:
    """20 lines read; 30 more written and looked at (the reader held back); then 5 lines appended and cut away again,
    the mtime set back (or, `chmod_only`, a chmod alone), and the watcher's events noted — no look since."""
    log = tmp_path / "app.log"
    log.write_bytes(_lines(0, 20))
    fl = Follower([log], tmp_path)
    fl.poll()
    _append(log, _lines(20, 30))
    fl.tailer.look_at_all()
    before = os.stat(log)
    if chmod_only:
        os.chmod(log, 0o640)
    else:
        _append(log, b"hidden\n" * 5)
        os.truncate(log, before.st_size)
        os.utime(log, ns=(before.st_atime_ns, before.st_mtime_ns))
    fl.tailer.noted(set() if chmod_only else {str(log)}, {str(log)}, False)
    return fl, log


def test_written_and_cut_back_just_before_a_reload_is_told_by_the_successor(tmp_path: Path, caplog) -> None:
    # A reload's restart: the successor, built in the same process, goes on from the predecessor's last look and the
    # writes noted since (Tailer.hand_looks_over / take_looks); its first look finds the log as long, changed since.
    caplog.set_level(logging.INFO, logger="shipper.tail")
    fl, _ = _written_and_cut_back_unseen(tmp_path)
    handed = fl.tailer.hand_looks_over()
    fl.restart()
    fl.tailer.take_looks(handed)
    fl.poll()
    assert fl.seqs() == list(range(50))
    (msg,) = _said(caplog, "cut back in place")
    assert "written after byte" in msg or "written to it after byte" in msg, msg


def test_a_chmod_just_before_a_reload_is_no_cut_back(tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.INFO, logger="shipper.tail")
    fl, _ = _written_and_cut_back_unseen(tmp_path, chmod_only=True)
    handed = fl.tailer.hand_looks_over()
    fl.restart()
    fl.tailer.take_looks(handed)
    fl.poll()
    assert fl.seqs() == list(range(50))
    assert _said(caplog, "lost") == [] and fl.lost == 0
