"""Black-box attack 4: a file truncated under a writer that does not append (`prog > app.log` with
copytruncate, after a day of logging) starts with a hole as long as the writer's offset: tens or hundreds
of GiB that take no disk space. The README promises holes are skipped and counted; skipping must not mean
reading every zero byte while the source's other files wait: the kernel says where the data is
(lseek SEEK_DATA), so the line after the hole and the other files' lines come within seconds."""
from __future__ import annotations

import time

import pytest

from tests.tail.attack_agent import Agent, numbered

pytestmark = pytest.mark.slow

HOLE = 200 * 2**30  # sparse: no disk space taken; read byte by byte at ~100 MB/s it is half an hour


def write(path, lo: int, hi: int) -> None:
    with open(path, "a") as f:
        f.write("".join(numbered(i) for i in range(lo, hi)))


def test_huge_hole_delays_neither_its_file_nor_the_others(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    write(logs / "a.log", 0, 10)
    write(logs / "b.log", 100, 110)
    agent = Agent(tmp_path, [f"{logs}/*.log"])
    agent.start()
    try:
        assert agent.wait_delivered(list(range(10)) + list(range(100, 110)))
        with open(logs / "a.log", "r+b") as f:  # truncated, then the writer writes at its old offset
            f.truncate(0)
            f.seek(HOLE)
            f.write(numbered(10).encode())
        time.sleep(0.5)
        write(logs / "b.log", 110, 120)
        assert agent.wait_delivered(range(110, 120), timeout=45), "the other file waits for the hole"
        assert agent.wait_delivered([10], timeout=45), "the line after the hole waits"
    finally:
        assert agent.stop() == 0
    assert "zero bytes" in agent.errors()
