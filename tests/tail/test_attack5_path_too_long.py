"""Black-box attack 5: a `**` glob over a tree where one log's path is longer than PATH_MAX (4096 bytes: a
tree of long folder names nested deep, made by a program that works with relative paths or `openat`, never
with the whole path). The kernel refuses that path whole (ENAMETOOLONG), so a tailer that opens by path cannot
open it; the README's "bad input is never dropped silently" asks that it at least be named, as a file name that
is not UTF-8 is ("not followed: … rename it"). Found (deterministic, 2 runs of 2): its lines are never shipped
and nothing says so; the other files are followed."""
from __future__ import annotations

import os
import time

import pytest

from tests.tail.attack_agent import Agent, numbered

pytestmark = pytest.mark.slow


def test_log_beyond_path_max_is_shipped_or_named(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "a.log").write_text("".join(numbered(i) for i in range(10)))
    top = os.open(logs, os.O_RDONLY)
    fd = top
    try:
        for _ in range(45):  # 45 folders of 100 bytes: the file's path is over 4,500 bytes
            os.mkdir("d" * 100, dir_fd=fd)
            inner = os.open("d" * 100, os.O_RDONLY, dir_fd=fd)
            if fd != top:
                os.close(fd)
            fd = inner
        log = os.open("deep.log", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
        try:
            os.write(log, "".join(numbered(i) for i in range(100, 110)).encode())
        finally:
            os.close(log)
    finally:
        if fd != top:
            os.close(fd)
        os.close(top)
    agent = Agent(tmp_path, [f"{logs}/**/*.log"])
    agent.start()
    try:
        assert agent.wait_delivered(range(10))
        deep_read = agent.wait_delivered(range(100, 110), timeout=10)
        time.sleep(2)
    finally:
        assert agent.stop() == 0
    named = any("deep.log" in line or "too long" in line.lower() or "ENAMETOOLONG" in line
                for line in agent.errors().splitlines() if "level=warning" in line or "level=error" in line)
    assert deep_read or named, agent.errors()[-2000:]
