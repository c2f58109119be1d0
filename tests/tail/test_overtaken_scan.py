"""Scans overtaken by a rotation or a cleaner between listing the files and comparing their bytes (a loaded
machine; the torture harness's `--overtaken`): what the listing saw and what is there by the time the scan
looks are not the same files. Seeds found by the harness are replayed in tests/torture/test_torture.py; the
cause of each is tested here."""
from __future__ import annotations

import logging
import os

import pytest

from shipper.tail import prospector as prospector_mod
from tests.tail.conftest import Follower
from tests.tail.test_files import write

HEADER = "# time level logger message"


@pytest.fixture
def fast_missing(monkeypatch):
    monkeypatch.setattr(prospector_mod, "MISSING_SECONDS", 0.0)


def records(f: Follower) -> list[bytes]:
    return [r for r in f.lines() if not r.startswith(b"#")]


def expect(n: int) -> list[bytes]:
    return [f"line {i}".encode() for i in range(n)]


def overtake(f: Follower, then) -> None:
    """The next scan lists the files, then `then()` runs before it compares their bytes."""
    observe = f.tailer.prospector.observe

    def observe_then():
        f.tailer.prospector.observe = observe
        obs = observe()
        then()
        return obs

    f.tailer.prospector.observe = observe_then


def warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def test_a_read_backup_deleted_during_the_scan_is_no_loss(tmp_path, fast_missing, caplog):
    """A backup read to its end and closed (idle, or over the descriptor budget), listed by a scan and
    deleted (a cleaner, `rotate N`) before the scan compared it: its name gone, it was taken for
    "not that file" and its inode followed as a new file never opened — called lost whole at the next
    scans ("data lost: N bytes … were never read"; "possibly lost" when a .gz had been read since:
    torture seed 22), though every line of it was delivered."""
    d = tmp_path / "logs"
    d.mkdir()
    log = d / "app.log"
    write(log, *[f"line {i}" for i in range(5)])
    f = Follower([log], d, max_open=1)
    try:
        f.poll()
        os.rename(log, d / "app.log.1")  # logrotate `create`
        write(log, *[f"line {i}" for i in range(5, 10)])
        f.poll(2)  # app.log.1 read to its end, then closed (the budget: the live file keeps it)
        assert records(f) == expect(10)
        backup = f.tailer.prospector.files[next(k for k, x in f.tailer.prospector.files.items()
                                                 if x.path == str(d / "app.log.1"))]
        assert backup.fh is None
        overtake(f, lambda: os.unlink(d / "app.log.1"))  # a cleaner, between the listing and the compare
        with caplog.at_level(logging.INFO, logger="shipper.tail"):
            f.settle()
        assert records(f) == expect(10)
        assert warnings(caplog) == []
        assert f.tailer.losses == 0 and f.tailer.bytes_lost == 0
    finally:
        f.tailer.close()

