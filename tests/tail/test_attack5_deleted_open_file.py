"""Black-box attack 5: the live log is deleted while its writer keeps it open (`rm app.log` to free space, a
cleaner that matches too much) and the writer goes on writing to the unlinked file, now and then: an audit
log may see one event in ten minutes. The agent reads the deleted file through its descriptor
(`poll_interval`), and gives the descriptor back once the file was idle for `close_inactive` (default 300 s).
A line written after that is in no file the agent can reach: it is lost, and nothing says so — no warning that
the file was let go while it may still be written to, `shipper_losses` 0 (3 runs of 3 by hand, with
close_inactive 2-3 s: the last lines lost each time)."""
from __future__ import annotations

import json
import os
import time
import urllib.request

import pytest

from tests.support import wait
from tests.tail.attack_agent import Agent, numbered

pytestmark = pytest.mark.slow


def let_go_said(agent: Agent) -> bool:
    return any("app.log" in line for line in agent.errors().splitlines() if "level=warning" in line)


def followed(agent: Agent) -> list:
    with urllib.request.urlopen(f"http://127.0.0.1:{agent.port}/status", timeout=10) as r:
        return json.loads(r.read())["sources"]["app"]["status"]["files"]


def test_deleted_file_still_written_is_read_or_its_let_go_warned(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    log = logs / "app.log"
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    agent = Agent(tmp_path, [log], "    close_inactive: 2")
    try:
        os.write(fd, "".join(numbered(i) for i in range(10)).encode())
        agent.start()
        assert agent.wait_delivered(range(10))
        os.unlink(log)  # the writer keeps its descriptor
        os.write(fd, numbered(10).encode())
        assert agent.wait_delivered(range(11))  # read through the agent's descriptor
        deadline = time.monotonic() + 60
        while any(f.get("deleted") for f in followed(agent)):  # idle: the agent lets it go
            assert time.monotonic() < deadline, followed(agent)
            time.sleep(0.5)
        os.write(fd, numbered(11).encode())  # the writer's next event
        # Until it is read or its let-go was warned (either passes: a warned let-go waited its whole 15 s here)
        read = lambda: set(range(12)) <= set(agent.seqs())  # noqa: E731
        wait(lambda: read() or let_go_said(agent), 15, every=0.2)
        delivered = read()
    finally:
        os.close(fd)
        assert agent.stop() == 0
    assert delivered or let_go_said(agent), agent.errors()[-2000:]


def test_deleted_file_written_after_its_deletion_is_kept_as_long_as_a_named_one(tmp_path):
    """Rotated away and deleted, a file is let go 2 s after its last line; one written to after its
    deletion has a writer that still holds it: kept `close_inactive`, its next line is read."""
    from tests.tail.conftest import Follower
    log = tmp_path / "app.log"
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, numbered(0).encode())
        f = Follower([log], tmp_path, close_inactive=60)
        f.poll()
        os.unlink(log)
        time.sleep(0.05)  # (a later clock tick than the unlink's)
        os.write(fd, numbered(1).encode())
        f.poll()
        time.sleep(3)  # past the grace of a file rotated away
        f.poll()
        f.tailer.close_idle()
        os.write(fd, numbered(2).encode())
        f.poll()
        assert [json.loads(x)["seq"] for x in f.lines()] == [0, 1, 2]
    finally:
        os.close(fd)
        f.tailer.close()
