"""Black-box attack 5: a followed log cut back in place to a size other than 0 (`truncate -s`, a tool trimming
the file to a size limit, a restore of a shorter version of the same file), then written on. The bytes left are
the very bytes already read. Found (2 runs of 2): the agent says "file truncated: reading it again from its
start" (info level) and ships every line left in the file a second time; a 45 MB file cut to 1,000 bytes
mid-backlog also got a loss warning naming the wrong cause ("deleted, or renamed where the source's paths do not
reach") for a truncation. The digests the tailer keeps of what it read (docs/design.md) can tell the bytes left
are a prefix of what was read: it reads on from the cut (a loss, named as a truncation, only of what was
cut away unread); bytes it cannot prove were read are read again from the start, the unread cut named."""
from __future__ import annotations

import logging
import os
import time

import pytest

from tests.tail.attack_agent import Agent, exactly_once, numbered
from tests.tail.conftest import Follower


@pytest.mark.slow
def test_file_cut_back_to_a_size_repeats_nothing(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    log = logs / "app.log"
    log.write_text("".join(numbered(i) for i in range(100)))
    keep = len("".join(numbered(i) for i in range(40)).encode())
    agent = Agent(tmp_path, [log])
    agent.start()
    try:
        assert agent.wait_delivered(range(100))
        os.truncate(log, keep)  # lines 40-99 were read: cutting them loses nothing
        time.sleep(1)
        with open(log, "a") as f:
            f.write("".join(numbered(i) for i in range(100, 110)))
        assert agent.wait_delivered(range(110))
        time.sleep(2)
    finally:
        assert agent.stop() == 0
    assert exactly_once(agent.seqs(), range(110)) == ""
    assert "data lost" not in agent.errors()  # all that was cut away had been read


def _read_some(f: Follower, read_size: int) -> None:
    """One scan and a single read of `read_size` bytes: the rest of the file is a backlog."""
    f.tailer.harvester.read_size = read_size

    def emit(chunk):
        f.emit(chunk)
        if chunk.records:
            f.stop.set()
    f.tailer.scan()
    f.tailer.read_all(emit, f.stop)
    f.stop.clear()
    f.tailer.harvester.read_size = 1 << 20


def _losses(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith("data lost")]


def test_cut_back_mid_backlog_goes_on_from_the_cut_and_names_the_unread_cut(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="shipper.tail")
    log = tmp_path / "app.log"
    lines = [f"line {i:04d}\n".encode() for i in range(200)]
    log.write_bytes(b"".join(lines))
    f = Follower([log], tmp_path)
    _read_some(f, 500)
    read = len(f.lines())
    assert 10 < read < 200
    keep = sum(map(len, lines[:10]))
    os.truncate(log, keep)  # what was read past line 10 is shipped; lines `read`.. were not read
    with open(log, "ab") as w:
        w.write(b"after 1\n")
    f.settle()
    assert f.lines() == [x.rstrip(b"\n") for x in lines[:read]] + [b"after 1"]
    unread = sum(map(len, lines[read:]))
    assert f.lost == unread
    (msg,) = _losses(caplog)
    assert f"{unread} bytes" in msg and f"truncated in place (cut back to {keep} bytes)" in msg, msg
    assert "deleted" not in msg


def test_cut_back_where_no_kept_bytes_prove_it_is_read_again_and_named_a_truncation(tmp_path, caplog):
    # Read 150 KB into a 300 KB file, cut to 1,000 bytes: the bytes kept of the last reads (64 KB)
    # do not reach back to them, so they cannot be told from new content: read from the start.
    caplog.set_level(logging.INFO, logger="shipper.tail")
    log = tmp_path / "app.log"
    lines = [f"line {i:05d} ".encode() + b"x" * 88 + b"\n" for i in range(3000)]
    log.write_bytes(b"".join(lines))
    f = Follower([log], tmp_path)
    _read_some(f, 150_000)
    read = len(f.lines())
    assert 700 < read < 3000  # more than the 64 KB kept
    os.truncate(log, sum(map(len, lines[:10])))
    f.settle()
    assert f.lines() == [x.rstrip(b"\n") for x in lines[:read] + lines[:10]]
    unread = sum(map(len, lines[read:]))
    assert f.lost == unread
    (msg,) = _losses(caplog)
    assert f"{unread} bytes" in msg and "truncated in place (cut back to a size)" in msg, msg
    assert "deleted" not in msg
