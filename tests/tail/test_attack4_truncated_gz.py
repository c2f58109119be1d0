"""Black-box attack 4: the only copy of lines not yet read is a compressed backup cut short (compression
interrupted by a full disk or a kill, a partial copy restored from elsewhere): a `.gz` whose stream ends early.
What its readable part holds may be shipped; what it lost must be a warned loss naming it. Never silence."""
from __future__ import annotations

import gzip
import json
import os
import time
import zlib

import pytest

from tests.tail.attack_agent import Agent, numbered

pytestmark = pytest.mark.slow


def write(path, lo: int, hi: int) -> None:
    with open(path, "a") as f:
        f.write("".join(numbered(i) for i in range(lo, hi)))


def test_truncated_gz_holding_unread_lines_is_not_silent(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    write(logs / "app.log", 0, 100)
    agent = Agent(tmp_path, [f"{logs}/app.log*"])
    agent.start()
    try:
        assert agent.wait_delivered(range(100))
    finally:
        assert agent.stop() == 0
    write(logs / "app.log", 100, 2000)  # while the agent is stopped
    data = gzip.compress((logs / "app.log").read_bytes())
    (logs / "app.log.1.gz").write_bytes(data[: len(data) // 2])  # rotated, compressed, cut short
    os.unlink(logs / "app.log")
    write(logs / "app.log", 2000, 2100)
    agent.start()
    try:
        assert agent.wait_delivered(range(2000, 2100))
        time.sleep(15)  # past the 10 s a .gz still being written may wait
    finally:
        assert agent.stop() == 0
    seqs = agent.seqs()
    assert len(seqs) == len(set(seqs)), "a line repeated"
    # What decompresses of it is read: every line it holds whole (zlib gives what precedes the cut).
    readable = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data[: len(data) // 2])
    whole = {json.loads(line)["seq"] for line in readable.split(b"\n")[:-1]}
    assert len(whole) > 500 and whole - {*range(100)} <= set(seqs), "what decompresses was not read"
    if not set(range(100, 2000)) <= set(seqs):
        warned = [line for line in agent.errors().splitlines()
                  if "level=warning" in line and "app.log.1.gz" in line]
        assert warned, f"{len(set(range(100, 2000)) - set(seqs))} lines gone without a word naming app.log.1.gz"
