"""A log cut in place above its read position while the reader is held in a hand-over (shipper/tail/looks.py), in
process: the emit that holds the reader runs the file source's look while held (source_waits.held_a_while inside
looking_while_held), as a down output's full queue does. What is a cut is named; what only looks like one is not:
- a look during the hold that follows a read which ended short, the file grown since that read (a reload's restart
  named "924 bytes or more … a look saw it 4004 bytes long; it ends at byte 3080" lost, all of it read next: 3c2c4fb,
  withdrawn in 4922bdc);
- a file whose end was zeros at the look (Log4j 2's memory-mapped file, grown with zeros and cut back to its lines at
  close)."""
from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from shipper import source_waits
from shipper.source_waits import held_a_while, looking_while_held
from tests.tail.conftest import Follower


def _lines(first: int, n: int) -> bytes:
    return b"".join(b'{"n": %d, "pad": "%s"}\n' % (i, b"x" * 40) for i in range(first, first + n))


def _append(path: Path, data: bytes) -> None:
    with open(path, "ab") as w:
        w.write(data)


def _losses(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if "data lost" in r.getMessage()]


@pytest.fixture(autouse=True)
def _look_at_every_round(monkeypatch):
    monkeypatch.setattr(source_waits, "LOOK_EVERY", 0.0)  # (a look at each call: the hold is the test's own)


def _follow_held(f: Follower, during_hold) -> None:
    """Scan and read once, `during_hold(chunk)` run at each emit of lines before the look while held; then settle."""
    def emit(chunk):
        f.emit(chunk)
        if chunk.records:
            during_hold(chunk)
            held_a_while()
    with looking_while_held(f.tailer.look_at_all):
        f.tailer.scan()
        f.tailer.read_all(emit, f.stop)
        f.settle()


def test_a_cut_above_the_read_position_while_held_is_named(tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.INFO, logger="shipper.tail")
    log = tmp_path / "app.log"
    log.write_bytes(_lines(0, 100))
    f = Follower([log], tmp_path, batch_lines=10)
    f.tailer.harvester.read_size = 4096  # (the first read ends well before the file's end: a backlog)
    cut_at: list[int] = []

    def during_hold(chunk) -> None:
        if cut_at:
            return
        _append(log, _lines(100, 100))
        held_a_while()  # the look while held sees it grown
        data = log.read_bytes()
        cut_at.append(data.index(b"\n", len(data) * 3 // 4) + 1)
        os.truncate(log, cut_at[0])  # trimmed above what was read, below what the look saw
        _append(log, _lines(1000, 2))

    _follow_held(f, during_hold)
    seqs = [int(r.split(b",")[0][6:]) for r in f.lines()]
    assert seqs[-2:] == [1000, 1001]
    cut_lines = 200 - len(seqs) + 2
    assert cut_lines > 0
    (msg,) = _losses(caplog)
    assert "cut in place above what had been read" in msg and "bytes or more of" in msg, msg
    assert f.tailer.losses == 1 and f.lost >= cut_lines * len(_lines(0, 1)) - 100


def test_a_look_during_the_hold_after_a_short_read_names_nothing(tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.INFO, logger="shipper.tail")
    log = tmp_path / "app.log"
    log.write_bytes(_lines(0, 20))
    f = Follower([log], tmp_path, batch_lines=5)
    grown: list[bool] = []

    def during_hold(chunk) -> None:
        if not grown:  # written after the read that ended at the file's end, while its lines wait to be handed over
            grown.append(True)
            _append(log, _lines(20, 20))

    _follow_held(f, during_hold)
    assert [int(r.split(b",")[0][6:]) for r in f.lines()] == list(range(40))
    assert _losses(caplog) == [] and f.lost == 0


def test_zeros_at_the_end_cut_back_at_close_are_no_cut(tmp_path: Path, caplog) -> None:
    # Log4j 2's MemoryMappedFileAppender: the file grown with zeros, lines written into them, cut back to its lines at
    # close. A look while the zeros were there saw a longer file; its end was no data.
    caplog.set_level(logging.INFO, logger="shipper.tail")
    log = tmp_path / "app.log"
    log.write_bytes(_lines(0, 20) + b"\0" * 8192)
    f = Follower([log], tmp_path, batch_lines=5)
    written: list[bool] = []

    def during_hold(chunk) -> None:
        if not written:
            written.append(True)
            with open(log, "r+b") as w:  # lines into the zeros, as through the mapping
                w.seek(len(_lines(0, 20)))
                w.write(_lines(20, 10))
            held_a_while()
            os.truncate(log, len(_lines(0, 30)))  # the close

    _follow_held(f, during_hold)
    assert [int(r.split(b",")[0][6:]) for r in f.lines()] == list(range(30))
    assert _losses(caplog) == [] and f.lost == 0
