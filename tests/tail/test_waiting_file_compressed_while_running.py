"""A backup waiting to be told apart (it held no more than the header its family shares when it was looked at) that is
compressed while the agent runs (logrotate `compress`: the .gz written, then the plain file deleted) lives on in its
.gz, which this run reads whole from its start. Gone, the plain file was named "data lost … (the whole file)" and
counted, though its lines were delivered from the .gz (a false counted loss; the restart's path said "possibly":
Prospector._undecided_gone, tort21y's note in session 27). A waiting file deleted with no such .gz read (a cleaner) is
still a counted loss."""
from __future__ import annotations

import gzip
import json
import logging
import os
import shutil

import pytest

from shipper.tail import scan_rules
from tests.tail.conftest import Follower, assert_exactly_once
from tests.tail.test_gz_waiting_since_before_live_read_no_window import HEADER, append


@pytest.fixture(autouse=True)
def fast_missing(monkeypatch):
    monkeypatch.setattr(scan_rules, "MISSING_SECONDS", 0.0)


def numbered(first: int, n: int) -> bytes:
    return b"".join(b'{"seq": %d, "pad": "%s"}\n' % (i, b"x" * (i % 13)) for i in range(first, first + n))


def _a_waiting_backup(d) -> Follower:
    """app.log read; then two `create` rotations before a scan: app.log.1 is the file made by the first, holding the
    header only (it waits), app.log.2 the content read, app.log the new live file. The writer of app.log.1 kept its
    descriptor and wrote on after the rename (until its reopen), lines no scan saw."""
    log = d / "app.log"
    log.write_bytes(HEADER + numbered(0, 20))
    f = Follower([log], d)
    f.poll()
    os.rename(log, d / "app.log.1")
    log.write_bytes(HEADER)
    os.rename(d / "app.log.1", d / "app.log.2")
    os.rename(log, d / "app.log.1")
    log.write_bytes(HEADER + numbered(100, 5))
    f.poll()
    waiting = {os.path.basename(path) for _, path, _, _ in f.tailer.prospector.undecided.values()}
    assert waiting == {"app.log.1"}, "the header-only backup waits, too short to tell"
    append(d / "app.log.1", numbered(50, 7))
    return f


def _seqs(f: Follower) -> list[int]:
    return [json.loads(line)["seq"] for line in f.lines() if line.rstrip(b"\n") != HEADER.rstrip(b"\n")]


def _lost(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if "app.log.1 (the whole file)" in r.getMessage()]


@pytest.mark.parametrize("scan_between", [False, True], ids=["gz-and-deletion-in-one-scan", "gz-read-before-deletion"])
def test_a_waiting_backup_compressed_while_running_is_no_counted_loss(tmp_path, caplog, scan_between):
    f = _a_waiting_backup(tmp_path)
    try:
        with caplog.at_level(logging.WARNING, logger="shipper.tail"):
            plain = tmp_path / "app.log.1"
            with open(plain, "rb") as src, gzip.open(f"{plain}.gz", "wb") as dst:
                shutil.copyfileobj(src, dst)
            if scan_between:
                f.poll()
            os.unlink(plain)
            f.settle()
        assert_exactly_once(_seqs(f), [*range(20), *range(50, 57), *range(100, 105)])
        assert f.tailer.losses == 0, _lost(caplog)
        assert not [m for m in _lost(caplog) if m.startswith("data lost")], caplog.text
    finally:
        f.tailer.close()


def test_a_waiting_backup_deleted_unread_is_still_a_counted_loss(tmp_path, caplog):
    f = _a_waiting_backup(tmp_path)
    try:
        with caplog.at_level(logging.WARNING, logger="shipper.tail"):
            os.unlink(tmp_path / "app.log.1")  # a cleaner: nothing of it anywhere
            f.settle()
        assert any(m.startswith("data lost") for m in _lost(caplog)), caplog.text
        assert f.tailer.losses == 1
    finally:
        f.tailer.close()
