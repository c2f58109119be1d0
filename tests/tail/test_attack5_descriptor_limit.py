"""Black-box attack 5: more files in the globs than the agent may keep open (a `**` over a storage tree of
PT1H.json blobs, hundreds of busy logs) under a descriptor limit (the unit sets no LimitNOFILE: systemd's soft
default is 1024), while a few of the files rotate (rename to `.1`, the previous `.1` replaced: `rotate 1`).
Each rotated file stays on disk for ~0.3 s, the agent runs, the output is up. Found with 300 files under
`ulimit -n 256` (the agent then keeps ~118 descriptors), 10 of them rotating 30 times: 1, 17 and 24 lines
lost in 3 runs of 3, with 0, 0 and 3 warnings naming their files (and false "data lost" warnings in other
runs); without the limit, 0 lost in 2 runs of 2. With 1,000-3,000 files under 1024 the same shows as
"data lost" warnings for files whose every line was delivered (4 runs of 6)."""
from __future__ import annotations

import os
import re
import time

import pytest

from tests.tail.attack_agent import Agent, numbered

pytestmark = pytest.mark.slow

FILES, ROTATING, ROUNDS = 300, 10, 30


def append(path, seq: int) -> None:
    with open(path, "a") as f:
        f.write(numbered(seq))


def test_many_busy_files_under_a_descriptor_limit_lose_nothing_silently(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    for k in range(FILES):
        append(logs / f"f{k}.log", k * 100)
    agent = Agent(tmp_path, [f"{logs}/*.log"])
    agent.command_prefix = ["prlimit", "--nofile=256:256", "--"]  # (hard too: the agent raises its soft limit to the hard one)
    expected = [k * 100 for k in range(FILES)]
    agent.start()
    try:
        assert agent.wait_delivered(expected, timeout=120)
        for r in range(ROUNDS):
            for k in range(ROTATING):  # seq k*100 + 1 + 2r: in the file rotated now, replaced by the next round
                live = logs / f"f{k}.log"
                append(live, k * 100 + 1 + 2 * r)
                os.rename(live, logs / f"f{k}.log.1")
                append(live, k * 100 + 2 + 2 * r)
                expected += [k * 100 + 1 + 2 * r, k * 100 + 2 + 2 * r]
            for k in range(ROTATING, FILES):  # the others busy too
                append(logs / f"f{k}.log", k * 100 + 1 + r)
                expected.append(k * 100 + 1 + r)
            time.sleep(0.3)
        # Until each line is delivered or its file named lost (a rotated file deleted before it was read: the rounds
        # outrun the agent under load). It was 30 s whatever came, and a named loss used all of them: an agent still
        # behind then had its undelivered lines called lost silently, and a stuck one (its lines never read: the
        # holder's closed descriptor given to the file again: test_held_fd_given_back_in_scan.py) looked the same as a
        # slow one.
        deadline = time.monotonic() + 180
        while _silent(agent, expected) and time.monotonic() < deadline:
            time.sleep(0.5)  # (each look decodes every line delivered: not too often, beside the agent)
        time.sleep(3)  # warnings of a last scan
    finally:
        assert agent.stop() == 0
    seqs = agent.seqs()
    assert len(seqs) == len(set(seqs)), "a line was shipped twice"
    silent = _silent(agent, expected)
    assert not silent, f"{len(silent)} lines lost with no warning naming their file (e.g. {silent[:5]})"


def _silent(agent: Agent, expected: list) -> list:
    """The expected lines neither delivered nor of a file a 'data lost' warning names."""
    warned = "\n".join(line for line in agent.errors().splitlines() if re.search(r"data (possibly )?lost", line))
    return sorted(s for s in set(expected) - set(agent.seqs()) if not re.search(rf"/f{s // 100}\.log\b", warned))
