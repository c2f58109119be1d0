"""Issue 13: each file source took 3 inotify instances (watchdog's observer, the writes watcher, the
holder); the default `fs.inotify.max_user_instances` (128 per user, for every program of the user)
ran out at ~43 sources, and then nothing was held or counted. Now a source has one (structure and
writes) and every holder of the agent shares one more. A real agent with 15 file sources (45
instances before, 16 now: so few that the test does not take the instances of the user's other
programs, which share the limit; at 128 a user has room for ~127 sources now): its
inotify descriptors counted in /proc, and every source still told of writes and rotations (the
polls are 10 minutes apart, so only a notification delivers in time)."""
from __future__ import annotations

import os
import time

from tests.tail.attack_agent import Agent, numbered

SOURCES = 15


def inotify_instances(pid: int) -> int:
    n = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") == "anon_inode:inotify":
                n += 1
        except OSError:
            pass  # closed meanwhile
    return n


def test_file_sources_share_inotify_instances(tmp_path):
    logs = [tmp_path / f"s{i:02}" / "app.log" for i in range(SOURCES)]
    for i, log in enumerate(logs):
        log.parent.mkdir()
        log.write_text(numbered(i))
    agent = Agent(tmp_path, [logs[0]])
    sources = "".join(f"""
  - name: {"app" if i == 0 else f"s{i:02}"}
    type: file
    paths: [{log}]
    parser: json
    poll_interval: 600
    rescan_interval: 600
""" for i, log in enumerate(logs))
    agent.cfg.write_text(f"state_dir: {tmp_path}/state\nhttp: {{listen: \"127.0.0.1:{agent.port}\"}}\n"
                         f"shutdown_timeout: 20\nsources:{sources}\noutputs:\n  - type: stdout\n")
    agent.start()
    try:
        assert agent.wait_delivered(range(SOURCES), timeout=120), agent.errors()[-3000:]
        assert inotify_instances(agent.proc.pid) <= SOURCES + 1  # was 3 a source: 45
        seq = SOURCES
        for log in logs:
            with open(log, "a") as f:
                f.write(numbered(seq))
            seq += 1
        # A rotation in the last source: its holder (on the shared instance) and its scan see it.
        os.rename(logs[-1], str(logs[-1]) + ".1")
        logs[-1].write_text(numbered(seq))
        seq += 1
        assert agent.wait_delivered(range(seq), timeout=120), sorted(set(range(seq)) - set(agent.seqs()))
        time.sleep(1)  # a repeat, if any, arrives
        assert sorted(agent.seqs()) == list(range(seq))
        assert inotify_instances(agent.proc.pid) <= SOURCES + 1
    finally:
        agent.stop()
    errors = agent.errors()
    assert "inotify" not in errors and "polling only" not in errors, errors[-3000:]
