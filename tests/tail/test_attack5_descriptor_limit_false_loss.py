"""Black-box attack 5: 3,000 files in the globs under systemd's default descriptor limit (soft 1024: the unit
sets no LimitNOFILE), each written once more after the first read, then five of them rotating 20 times
(rename to `.1`, the previous `.1` replaced, a new live file), 0.3 s apart. Every line is delivered exactly once,
yet the agent warns "data lost: … rotated away before the rest could be read" for three of the rotating files
and counts 3 in shipper_losses (3 runs of 3 on main after the descriptor-budget fix, 4 of 6 before): an auditor
is sent after losses that did not happen. Without the limit, or with 10 files, no warning. The cause: a file read
through the holder's descriptor after it was rotated away and deleted, then closed over the tailer's descriptor
budget, was in no name and no descriptor at the next scan, its checkpoint still at the live name (and a closed
file still counted as the tailer's by the holder was not held when it was renamed).
Session 8 (1 run in 5-8 under load still failed): a live file the tailer had closed was renamed between a
scan's listing and the comparison of its bytes, taken for another content, and read again from its start
(the first line of 2-5 rotating files twice, and a false "truncated and written again" loss for each:
tests/tail/test_rotated_during_scan.py); and a file renamed while the tailer had it open (so the holder left
it alone) was closed over the descriptor budget and deleted by the next rotation before a scan (a line lost,
or a false "rotated away" loss: tests/tail/test_descriptor_budget.py)."""
from __future__ import annotations

import os
import time

import pytest

from tests.tail.attack_agent import Agent, exactly_once, numbered

pytestmark = pytest.mark.slow

FILES, ROTATING, ROUNDS = 3000, 5, 20


def append(path, seq: int) -> None:
    with open(path, "a") as f:
        f.write(numbered(seq))


def test_many_files_under_the_default_descriptor_limit_warn_no_false_loss(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    for k in range(FILES):
        append(logs / f"f{k}.log", k * 100)
    agent = Agent(tmp_path, [f"{logs}/*.log"])
    agent.command_prefix = ["prlimit", "--nofile=1024:1024", "--"]  # (hard too: the agent raises its soft limit to the hard one)
    expected = [k * 100 for k in range(FILES)]
    agent.start()
    try:
        assert agent.wait_delivered(expected, timeout=180)
        for k in range(FILES):
            append(logs / f"f{k}.log", k * 100 + 1)
            expected.append(k * 100 + 1)
        for r in range(ROUNDS):
            for k in range(ROTATING):
                live = logs / f"f{k}.log"
                append(live, k * 100 + 10 + 2 * r)
                os.rename(live, logs / f"f{k}.log.1")
                append(live, k * 100 + 11 + 2 * r)
                expected += [k * 100 + 10 + 2 * r, k * 100 + 11 + 2 * r]
            time.sleep(0.3)
        assert agent.wait_delivered(expected, timeout=120)
        time.sleep(5)  # the warnings of the scans after the last rotation
    finally:
        assert agent.stop() == 0
    assert exactly_once(agent.seqs(), expected) == ""
    lost = [line for line in agent.errors().splitlines() if "data lost" in line or "data possibly lost" in line]
    assert not lost, f"{len(lost)} loss warnings, nothing lost: {lost[:2]}"
