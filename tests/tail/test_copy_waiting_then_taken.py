"""A copytruncate copy first seen while it is being written (no more than the first line it shares with the live file:
it waits to be told apart), grown to the whole content and then found holding what was read of the live file once that
is cut: it holds that content now, and waits no more. Deleted later, it is no loss (it was named lost whole, though all
it held was read: tests/tail/test_attack27_copy_seen_while_written_false_loss.py, exam27a)."""
from __future__ import annotations

import json
import logging
import os

import pytest

from shipper.tail import scan_rules
from tests.tail.conftest import Follower, assert_exactly_once


def _lines(lo: int, hi: int) -> bytes:
    return "".join(json.dumps({"seq": i, "pad": "x" * 40}) + "\n" for i in range(lo, hi)).encode()


@pytest.mark.parametrize("scans_while_whole", [0, 1], ids=["cut-before-a-scan", "scan-between"])
def test_a_copy_seen_being_written_and_taken_by_the_cut_content_is_no_loss_when_deleted(tmp_path, monkeypatch, caplog,
                                                                                        scans_while_whole):
    monkeypatch.setattr(scan_rules, "MISSING_SECONDS", 0.0)
    live = tmp_path / "app.log"
    fd = os.open(live, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, _lines(0, 400))
        f = Follower([live], tmp_path)
        f.poll(2)
        data = live.read_bytes()
        first = data[:data.index(b"\n") + 1]
        with open(tmp_path / "app.log.1", "wb") as copy:
            copy.write(first)
            copy.flush()
            f.poll()
            assert f.tailer.prospector.undecided, "the copy holding one line waits to be told apart"
            copy.write(data[len(first):])
        f.poll(scans_while_whole)
        os.truncate(live, 0)
        os.write(fd, _lines(400, 410))
        f.poll(2)
        assert not f.tailer.prospector.undecided
        caplog.set_level(logging.WARNING)
        (tmp_path / "app.log.1").unlink()
        f.settle()
    finally:
        os.close(fd)
    assert_exactly_once(f.seqs(), range(410))
    assert not [r.getMessage() for r in caplog.records if "app.log.1 (the whole file)" in r.getMessage()]
