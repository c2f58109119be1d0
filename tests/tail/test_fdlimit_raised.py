"""`shipper run` raises its soft descriptor limit to the hard one at start (a shell's `ulimit -n 1024`,
a unit without LimitNOFILE): a file source sizes its descriptor budget from the soft limit."""
from __future__ import annotations

import re
import resource

from tests.tail.attack_agent import Agent, numbered


def soft_nofile(pid: int) -> int:
    with open(f"/proc/{pid}/limits") as f:
        m = re.search(r"^Max open files\s+(\d+)\s+(\d+)", f.read(), re.M)
    assert m
    return int(m.group(1))


def test_run_raises_the_soft_descriptor_limit_to_the_hard_one(tmp_path):
    (tmp_path / "a.log").write_text(numbered(1))
    hard = min(resource.getrlimit(resource.RLIMIT_NOFILE)[1], 4096)
    assert hard > 256
    agent = Agent(tmp_path, [f"{tmp_path}/*.log"])
    agent.command_prefix = ["prlimit", f"--nofile=256:{hard}", "--"]  # (prlimit execs: the agent's pid)
    agent.start()
    try:
        assert soft_nofile(agent.proc.pid) == hard
    finally:
        assert agent.stop() == 0


def test_a_soft_limit_equal_to_the_hard_one_stays(tmp_path):
    (tmp_path / "a.log").write_text(numbered(1))
    agent = Agent(tmp_path, [f"{tmp_path}/*.log"])
    agent.command_prefix = ["prlimit", "--nofile=300:300", "--"]
    agent.start()
    try:
        assert soft_nofile(agent.proc.pid) == 300
        assert agent.wait_delivered([1], timeout=60)
    finally:
        assert agent.stop() == 0
