"""Black-box attack 5: logrotate `create 0600 other other` (a typo, or a product that changed its user) makes each
new live file unreadable to the agent, and the log rotates on while it is (the next `create` again unreadable).
docs/design.md promises an unreadable file is named, retried at every scan ("its lines wait, nothing is
skipped"), and never called rotated away. Found, each 3 runs of 3 by hand:
- permissions fixed on every file after two rotations: the unreadable file that had been rotated is read,
  but the new live file stays "unreadable: [Errno 13]" in /status for good, and its lines are never shipped
  (150 s, past two safety rescans) until a restart;
- an unreadable backup deleted before anyone could read it (the cleaner, `rotate 1`): its lines are lost with
  no "data lost" warning and `shipper_losses` 0 — the warning still says its lines wait.
Root reads everything, so the agent runs without the capabilities that override file permissions (setpriv)."""
from __future__ import annotations

import os
import re
import time
import urllib.request

import pytest

from tests.tail.attack_agent import Agent, numbered

pytestmark = pytest.mark.slow


def agent_without_file_capabilities(tmp_path, log) -> Agent:
    agent = Agent(tmp_path, [log])
    if os.geteuid() == 0:
        agent.command_prefix = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search"]
    return agent


def write(path, lo: int, hi: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        os.write(fd, "".join(numbered(i) for i in range(lo, hi)).encode())
    finally:
        os.close(fd)


def rotate_to_unreadable(log, lo: int, hi: int) -> None:
    """logrotate `create 0600 other other`, as the agent sees it: app.log.1 -> .2, app.log -> .1, a new
    app.log it may not open, then the writer's lines in it (written through the descriptor made with it)."""
    if os.path.exists(f"{log}.1"):
        os.rename(f"{log}.1", f"{log}.2")
    os.rename(log, f"{log}.1")
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o000)
    try:
        os.write(fd, "".join(numbered(i) for i in range(lo, hi)).encode())
    finally:
        os.close(fd)


def wait_for(cond, timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.2)
    return False


def losses(agent: Agent) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{agent.port}/metrics", timeout=10) as r:
        text = r.read().decode()
    return sum(float(v) for v in re.findall(r"^shipper_losses_total\{[^}]*\} (\S+)$", text, re.M))


def warned_unreadable(agent: Agent, path) -> bool:
    return f"cannot read {path}:" in agent.errors()


def test_live_file_unreadable_across_a_rotation_is_read_once_readable(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    log = logs / "app.log"
    log.write_text("".join(numbered(i) for i in range(100)))
    agent = agent_without_file_capabilities(tmp_path, log)
    agent.start()
    try:
        assert agent.wait_delivered(range(100))
        rotate_to_unreadable(log, 100, 200)
        assert wait_for(lambda: warned_unreadable(agent, log))
        rotate_to_unreadable(log, 200, 300)  # the unreadable file becomes app.log.1, a new unreadable app.log
        time.sleep(2)  # the agent looks at the new names
        os.chmod(f"{log}.1", 0o644)  # the operator fixes the permissions
        os.chmod(log, 0o644)
        write(log, 300, 310)
        assert agent.wait_delivered(range(200))  # the backup is read
        delivered = agent.wait_delivered(range(310), timeout=30)
    finally:
        assert agent.stop() == 0
    assert delivered, f"lines of the live file not shipped: {sorted(set(range(310)) - set(agent.seqs()))[:5]}…"
    assert sorted(agent.seqs()) == list(range(310))


def test_unreadable_file_deleted_unread_is_a_warned_loss(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    log = logs / "app.log"
    log.write_text("".join(numbered(i) for i in range(100)))
    agent = agent_without_file_capabilities(tmp_path, log)
    agent.start()
    try:
        assert agent.wait_delivered(range(100))
        rotate_to_unreadable(log, 100, 190)
        assert wait_for(lambda: warned_unreadable(agent, log))
        rotate_to_unreadable(log, 200, 300)
        assert wait_for(lambda: warned_unreadable(agent, f"{log}.1"))
        rotate_to_unreadable(log, 300, 310)  # 100-189, never readable, are now in app.log.2
        assert wait_for(lambda: warned_unreadable(agent, f"{log}.2"))
        os.unlink(f"{log}.2")  # the cleaner (rotate 1): lines 100-189 are gone, unread
        time.sleep(2)
        os.chmod(f"{log}.1", 0o644)
        os.chmod(log, 0o644)

        def loss_named() -> bool:
            return bool(re.search(r"data (possibly )?lost: [^\n]*" + re.escape(f"{log}.2"), agent.errors()))
        named = wait_for(loss_named, timeout=30)
        counted = losses(agent)
    finally:
        assert agent.stop() == 0
    assert not set(range(100, 190)) & set(agent.seqs())  # nothing of them could be read
    assert named and counted >= 1, agent.errors()[-3000:]
