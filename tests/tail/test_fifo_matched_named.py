"""A FIFO (or socket) the source's glob matches is named once, by path and kind, and not read (exam24l noticed it was
left out without a word: an operator who pointed `paths` at a pipe waited for lines that never came). The agent does
not open it (a FIFO with no writer blocks an open; reading one steals its real reader's bytes), the regular files
beside it are shipped, and the warning is not repeated at every scan — only when the FIFO goes and comes back."""
from __future__ import annotations

import os
import socket
import time
from pathlib import Path

from tests.support import wait_until
from tests.tail.attack_agent import Agent, append_numbered


def test_a_matched_fifo_is_named_once_not_read(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    append_numbered(logs / "a.log", 0, 50)
    fifo = logs / "pipe.log"
    os.mkfifo(fifo)
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(logs / "sock.log"))
    (logs / "sub.log").mkdir()  # a folder the glob matches: left out silently
    agent = Agent(tmp_path, [logs / "*.log"])
    agent.start()
    try:
        wait_until(lambda: agent.lines() >= 50, 30, "a.log shipped")
        time.sleep(2)  # ten scans at poll_interval 0.2
        named = [ln for ln in agent.errors().splitlines() if str(fifo) in ln]
        assert len(named) == 1 and "a FIFO" in named[0] and "not read" in named[0], agent.errors()
        socks = [ln for ln in agent.errors().splitlines() if "sock.log" in ln]
        assert len(socks) == 1 and "a socket" in socks[0], agent.errors()
        assert "sub.log" not in agent.errors()
        os.unlink(fifo)
        time.sleep(1)
        os.mkfifo(fifo)  # gone and back: named again
        wait_until(lambda: sum(str(fifo) in ln for ln in agent.errors().splitlines()) == 2, 30,
                   "the FIFO named again after it came back")
        append_numbered(logs / "a.log", 50, 60)
        wait_until(lambda: agent.lines() >= 60, 30, "a.log still followed")
        assert sorted(agent.seqs()) == list(range(60))
    finally:
        assert agent.stop() == 0, agent.errors()
        sock.close()
