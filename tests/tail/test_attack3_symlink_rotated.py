"""Attack (issue 21): a path in `paths` that is a symlink to a log that logrotate rotates
(`/var/log/app/current -> /srv/app/logs/app.log`, a common layout). The rotated names are made
beside the target, not beside the link. Found: the agent looked for them beside the link only, so
lines written while it was stopped, and copies made by copytruncate, still on disk in `app.log.1`,
were never read ("data lost ... no copy of it was found" was warned instead)."""
from __future__ import annotations

import os
import subprocess

import pytest

from tests.tail.attack_agent import Agent, exactly_once, numbered

pytestmark = pytest.mark.slow


def rotate_while_stopped(tmp_path, how: str) -> str:
    logs = tmp_path / "logs"
    logs.mkdir()
    live = logs / "app.log"
    link = tmp_path / "current.log"
    os.symlink(live, link)
    conf = tmp_path / "lr.conf"
    conf.write_text(f"{live} {{\n  rotate 5\n  {how}\n  missingok\n}}\n")
    seq = 0

    def write(n: int) -> None:
        nonlocal seq
        with open(live, "a") as f:
            for _ in range(n):
                f.write(numbered(seq))
                seq += 1

    write(100)
    agent = Agent(tmp_path, [link])
    agent.start()
    try:
        assert agent.wait_delivered(range(seq))
        agent.stop()
        write(100)  # not read yet: the checkpoint is at line 100
        subprocess.run(["/usr/sbin/logrotate", "-f", "-s", str(tmp_path / "lr.state"), str(conf)], check=True)
        assert (logs / "app.log.1").exists()
        write(100)
        agent.start()
        agent.wait_delivered(range(seq), timeout=10)
    finally:
        agent.stop()
    return exactly_once(agent.seqs(), range(seq)) + "\n" + "\n".join(
        line for line in agent.errors().splitlines() if "data lost" in line)


def test_symlinked_path_rotated_with_create_while_stopped_loses_nothing(tmp_path):
    assert rotate_while_stopped(tmp_path, "create").strip() == ""


def test_symlinked_path_rotated_with_copytruncate_while_stopped_loses_nothing(tmp_path):
    # Every line once; the copytruncate window (empty here, which nothing on disk can show) is warned as
    # when the agent runs through the rotation (tests/tail/test_attack8_copytruncate_while_stopped_silent.py).
    told = rotate_while_stopped(tmp_path, "copytruncate").strip().splitlines()
    assert len(told) == 1 and "between the copy to" in told[0] and "app.log.1" in told[0], told
