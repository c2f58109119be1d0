"""A log written to and cut back to a size it had before any read saw what was written (truncation.cut_back_unseen),
in process: the watcher's events given to the tailer as the file source gives them (Tailer.noted), its looks as the
gather window's (Tailer.look_at). What is such a cut is named; what only moves the change time is not: a touch then a
write, a chmod then a write (each a look finding the file as long as before, its change time moved)."""
from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from shipper.tail.watcher import Changes, ChangeWatcher
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
    """A gather window: the events taken, noted, then the look at what was written to, then the read."""
    f.tailer.noted({str(log)} if written else set(), {str(log)} if touched else set(), False)
    f.tailer.look_at({str(log)})
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


def test_a_chmod_after_writes_a_look_saw_is_no_cut(tmp_path: Path, caplog) -> None:
    # The writes noted before the look that saw them (the gather window's look, the looks while held): a chmod after
    # that look moves the change time with no write after it (a busy log's mode enforced by a tool: exam26c).
    caplog.set_level(logging.INFO, logger="shipper.tail")
    log, f = _read_to_its_end(tmp_path)
    _append(log, _lines(20, 3))
    f.tailer.noted({str(log)}, set(), False)
    f.tailer.look_at({str(log)})
    time.sleep(0.05)
    os.chmod(log, 0o600)
    _events(f, log, written=False, touched=True)
    assert len(f.lines()) == 23 and _said(caplog) == []


def _held(tmp_path: Path, then) -> Follower:
    """A log read to its end, 30 lines appended and read, the reader held 1.1 s in handing them over (an output down),
    the looks while held taken as the file source takes them (the watcher's events noted first: ChangeWatcher.drain),
    `then` done to the log between two of them; after the hold, the events left noted as the source's wait does."""
    log = tmp_path / "app.log"
    log.write_bytes(_lines(0, 20))
    f = Follower([log], tmp_path)
    watcher = ChangeWatcher([(str(tmp_path), False)])
    watcher.start()

    def note(batch: Changes) -> None:
        f.tailer.noted(batch.written, batch.touched, batch.overflowed)

    try:
        watcher.watch_folders({str(tmp_path)})
        f.tailer.drain_events = lambda: watcher.drain(note)
        f.poll()
        time.sleep(0.05)
        _append(log, _lines(20, 30))
        held = []

        def held_emit(chunk) -> None:
            if not held:
                held.append(chunk)
                time.sleep(1.1)  # (the hold: a lapse of attention once it lasts LAPSE_SECONDS)
                f.tailer.look_at_all()
                time.sleep(0.05)  # (past the file system's clock tick)
                then(log)
                f.tailer.look_at_all()
            f.emit(chunk)

        f.tailer.read_all(held_emit, f.stop)
        watcher.drain(note)  # (the source's wait after the hold: what is left)
        f.tailer.read_changed({str(log)}, f.emit, f.stop)
    finally:
        f.tailer.drain_events = None
        watcher.stop()
    return f


def test_a_chmod_while_held_is_no_cut(tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.INFO, logger="shipper.tail")
    f = _held(tmp_path, lambda log: os.chmod(log, 0o600))
    assert len(f.lines()) == 50 and _said(caplog) == [] and f.tailer.losses == 0


def test_a_cut_back_while_held_is_counted(tmp_path: Path, caplog) -> None:
    # The twin: 5 lines appended and cut away, the mtime set back, between two looks while held: counted, the hold
    # being the lapse (Lapses.holding) though it has not ended yet.
    caplog.set_level(logging.INFO, logger="shipper.tail")

    def cut_back(log: Path) -> None:
        before = os.stat(log)
        _append(log, _lines(100, 5))
        os.truncate(log, before.st_size)
        os.utime(log, ns=(before.st_atime_ns, before.st_mtime_ns))
        os.chmod(log, 0o600)

    f = _held(tmp_path, cut_back)
    (msg,) = _said(caplog)
    assert msg.startswith("data lost") and "did not read for 1 s" in msg and "mtime set back" in msg, msg
    assert len(f.lines()) == 50 and f.tailer.losses == 1
