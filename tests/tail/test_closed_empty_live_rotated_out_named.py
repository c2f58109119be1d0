"""Torture seed 400261 (`SEED=400000 --overtaken --no-holder`: 94 lines lost, nothing said): the live file, empty when
last looked at (no identity yet: its placeholder), closed (over the descriptor budget, or idle), is written to and
rotated out (`create`, one backup, two rotations) before the next scan looks. Its inode is not listed any more (or
holds another file: ext4 gives a freed inode to the next one). Its placeholder was dropped without a word, and the
lines written to it were lost unsaid. It is judged gone as a live file's placeholder is after a restart: lost, how
much unknown (gone.empty_live_rotated: unless a compressed file read since may hold them, a possible loss)."""
from __future__ import annotations

import logging
import os

import pytest

from shipper.tail import scan_rules
from tests.tail.conftest import Follower


@pytest.fixture(autouse=True)
def fast_missing(monkeypatch):
    monkeypatch.setattr(scan_rules, "MISSING_SECONDS", 0.0)


def append(path, data: bytes) -> None:
    with open(path, "ab") as w:
        w.write(data)


def rotate(d) -> None:
    """`create`, `rotate 1`: the backup deleted, the live file renamed to app.log.1, made again empty."""
    if (d / "app.log.1").exists():
        os.unlink(d / "app.log.1")
    os.rename(d / "app.log", d / "app.log.1")
    (d / "app.log").write_bytes(b"")


def test_a_closed_empty_live_file_written_and_rotated_out_unseen_is_named_lost(tmp_path, caplog):
    d = tmp_path / "logs"
    d.mkdir()
    log = d / "app.log"
    log.write_bytes(b"")
    f = Follower([log], d)
    try:
        f.poll()
        (ph,) = f.tailer.files.values()
        assert ph.state is None, "empty: its placeholder"
        ph.fh.close()  # (closed, as the descriptor budget closes it)
        ph.fh = None
        append(log, b"".join(b"seq %d lost unread\n" % i for i in range(94)))
        rotate(d)
        append(log, b"seq 94 in the next file\n")
        rotate(d)
        append(log, b"seq 95 in the live file\n")
        with caplog.at_level(logging.WARNING, logger="shipper.tail"):
            for _ in range(3):
                f.poll()
        assert sorted(f.lines()) == [b"seq 94 in the next file", b"seq 95 in the live file"]
        # ("data lost", not "possibly": counted, LossLedger.lost)
        lost = [r.getMessage() for r in caplog.records if r.getMessage().startswith("data lost")]
        assert len(lost) == 1 and f"of {log} " in lost[0] and "an unknown number of bytes" in lost[0], caplog.text
    finally:
        f.tailer.close()
