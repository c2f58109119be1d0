"""A backup overwritten in place under the reader, its size the same (logrotate `shred` of a backup the agent is still
catching up on: random bytes written over it from its start, pass after pass, then `shred -u`): what it held unread is a
named loss, and nothing the overwrite wrote is shipped as a record (~4,000 records of random bytes were:
tests/tail/test_attack27_shredded_backup_read_as_records.py, exam27a)."""
from __future__ import annotations

import json
import logging
import os

import pytest

from shipper.tail import scan_rules
from tests.tail.conftest import Follower


def _lines(lo: int, hi: int) -> bytes:
    return "".join(json.dumps({"seq": i, "pad": "x" * 60}) + "\n" for i in range(lo, hi)).encode()


def _shred(path, passes: int = 2) -> None:
    """shred's passes: random bytes over the whole file from its start, its size kept."""
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        for _ in range(passes):
            f.seek(0)
            left = size
            while left:
                n = min(left, 1 << 16)
                f.write(os.urandom(n))
                left -= n
            f.flush()
            os.fsync(f.fileno())


@pytest.mark.parametrize("max_open", [None, 1], ids=["open", "closed"])
@pytest.mark.parametrize("removed", [True, False], ids=["shred-u", "shred"])
def test_a_backup_overwritten_under_the_reader_is_a_named_loss_not_records(tmp_path, monkeypatch, caplog, removed,
                                                                          max_open):
    """`closed`: one descriptor for both files, the backup closed between its reads (a scan finds it changed)."""
    monkeypatch.setattr(scan_rules, "MISSING_SECONDS", 0.0)
    live = tmp_path / "app.log"
    live.write_bytes(_lines(0, 10))
    f = Follower([live], tmp_path, batch_lines=100, **({"max_open": max_open} if max_open else {}))
    f.poll(2)
    with open(live, "ab") as w:
        w.write(_lines(10, 40_000))  # ~3 MB: more than one read
    os.rename(live, tmp_path / "app.log.1")
    live.write_bytes(_lines(100_000, 100_010))
    emit = f.emit

    def held_back(chunk):  # the output slow: the reader stops after its first read's lines
        emit(chunk)
        if len(f.records) > 5_000:
            f.stop.set()
    f.emit = held_back
    f.poll()
    read = len(f.records)
    assert 5_000 < read < 40_000, read
    caplog.set_level(logging.WARNING)
    _shred(tmp_path / "app.log.1")
    f.stop.clear()
    f.emit = emit
    f.poll(2)
    if removed:
        os.truncate(tmp_path / "app.log.1", 0)
        os.unlink(tmp_path / "app.log.1")
    f.settle()
    junk = [r for r in f.lines() if not r.startswith(b'{"seq": ')]
    assert not junk, f"{len(junk)} records of bytes never written as lines, e.g. {junk[0][:80]!r}"
    losses = [r.getMessage() for r in caplog.records if "data lost" in r.getMessage()]
    assert len(losses) == 1 and "overwritten in place" in losses[0], losses
    seqs = [json.loads(r)["seq"] for r in f.lines()]
    assert len(seqs) == len(set(seqs))
    assert set(range(100_000, 100_010)) <= set(seqs)


def test_a_backup_read_to_its_end_then_shredded_is_read_no_more(tmp_path, monkeypatch, caplog):
    """Read whole, then shredded before it is let go (logrotate `shred` of the oldest backup): nothing lost, and
    nothing of the overwrite read (taken for a file truncated and written again, it was read from its start)."""
    monkeypatch.setattr(scan_rules, "MISSING_SECONDS", 0.0)
    live = tmp_path / "app.log"
    live.write_bytes(_lines(0, 1_000))
    f = Follower([live], tmp_path)
    f.poll(2)
    os.rename(live, tmp_path / "app.log.1")
    live.write_bytes(_lines(1_000, 1_010))
    f.poll(2)
    caplog.set_level(logging.WARNING)
    _shred(tmp_path / "app.log.1")
    f.poll(2)
    os.truncate(tmp_path / "app.log.1", 0)
    os.unlink(tmp_path / "app.log.1")
    f.settle()
    assert sorted(json.loads(r)["seq"] for r in f.lines()) == list(range(1_010))
    assert not [r.getMessage() for r in caplog.records if "data lost" in r.getMessage()]
