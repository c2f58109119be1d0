"""A later copytruncate copy of a log written without O_APPEND (`prog > app.log`) starts with a hole as long as the
content cut before it: that hole stands for bytes in the copies before it (and the windows named), no loss of its own.
Named "data lost … before the N zero bytes at its start", a loss no copytruncate made was counted at each restart after
two copytruncates while the agent was stopped (tests/tail/test_attack27_hole_headed_backup_false_loss.py, exam27a)."""
from __future__ import annotations

import json
import logging
import os
import shutil

import pytest

from shipper.tail import scan_rules
from tests.tail.conftest import Follower, assert_exactly_once


def _lines(lo: int, hi: int) -> bytes:
    return "".join(json.dumps({"seq": i, "pad": "x" * 40}) + "\n" for i in range(lo, hi)).encode()


@pytest.mark.parametrize("rotations", [2, 3])
def test_the_hole_at_a_later_copys_start_is_no_loss(tmp_path, monkeypatch, caplog, rotations):
    monkeypatch.setattr(scan_rules, "MISSING_SECONDS", 0.0)
    live = tmp_path / "app.log"
    fd = os.open(live, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        os.write(fd, _lines(0, 100))
        f = Follower([live], tmp_path)
        f.poll(2)
        f.tailer.close()
        n = 100
        for _ in range(rotations):  # copytruncate while stopped; the writer goes on at its own offset
            for i in range(rotations, 0, -1):
                if (tmp_path / f"app.log.{i}").exists():
                    os.rename(tmp_path / f"app.log.{i}", tmp_path / f"app.log.{i + 1}")
            shutil.copyfile(live, tmp_path / "app.log.1")
            os.truncate(live, 0)
            os.write(fd, _lines(n, n + 50))
            n += 50
        caplog.set_level(logging.WARNING)
        f.restart()
        f.settle()
    finally:
        os.close(fd)
    assert_exactly_once(f.seqs(), range(n))
    assert not [r.getMessage() for r in caplog.records if "zero bytes at its start" in r.getMessage()]
