"""Black-box attack 5: the followed folder is unreadable for a few seconds (a package upgrade or a config
management run resets its mode, an operator's `chmod -R`, an ACL change) and then readable again; the files in
it are untouched, the writer goes on. The agent held no descriptor on them (idle longer than `close_inactive`,
default 300 s: an audit log is often quiet that long). docs/design.md promises an unreadable file is never
called rotated away. Found (3 runs of 3 by hand, folder mode 000 for 8 s): both files warned "data lost: … rotated
away before the rest could be read" and counted in shipper_losses; nothing read until the next safety rescan
(40-60 s later), which then read both files again from their start — every line written before shipped twice.
Root reads everything, so the agent runs without the capabilities that override file permissions (setpriv)."""
from __future__ import annotations

import json
import os
import time
import urllib.request

import pytest

from tests.tail.attack_agent import Agent, append_numbered

pytestmark = pytest.mark.slow


def open_files(agent: Agent) -> list:
    with urllib.request.urlopen(f"http://127.0.0.1:{agent.port}/status", timeout=10) as r:
        return [f["path"] for f in json.loads(r.read())["sources"]["app"]["status"]["files"] if f["open"]]


def test_folder_unreadable_for_a_while_loses_and_repeats_nothing(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    app, other = logs / "app.log", logs / "b.log"
    append_numbered(app, 0, 10)
    append_numbered(other, 500, 510)
    agent = Agent(tmp_path, [f"{logs}/*.log"], "    close_inactive: 2\n    rescan_interval: 5")
    if os.geteuid() == 0:
        agent.command_prefix = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search"]
    agent.start()
    try:
        assert agent.wait_delivered(list(range(10)) + list(range(500, 510)))
        deadline = time.monotonic() + 60
        while open_files(agent):  # idle: the descriptors are given back
            assert time.monotonic() < deadline
            time.sleep(0.5)
        logs.chmod(0o000)
        try:
            append_numbered(app, 10, 20)
            time.sleep(8)
        finally:
            logs.chmod(0o755)
        append_numbered(app, 20, 30)
        expected = list(range(30)) + list(range(500, 510))
        assert agent.wait_delivered(expected, timeout=60)
        time.sleep(8)  # past a safety rescan: a file read again would show now
    finally:
        assert agent.stop() == 0
    seqs = agent.seqs()
    twice = sorted({s for s in seqs if seqs.count(s) > 1})
    lost = [line for line in agent.errors().splitlines() if "data lost" in line or "data possibly lost" in line]
    assert not twice and not lost, f"shipped twice: {twice[:5]}… ({len(twice)}); loss warnings: {lost}"
