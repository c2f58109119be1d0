"""Attack 25 (exam25d, issue 13: the journal must not lie): a quiet log, read to its end and delivered, the agent stopped
cleanly (SIGTERM), the log emptied (`: > app.log`) while it is stopped, nothing written, the agent started again. The
start says `data lost: an unknown number of bytes of …/quiet.log written after the last read: the file was truncated in
place and written again while the agent was away (or deleted and its inode given to a new file under its name), and
no copy of it was found` — but the file is empty: nothing was written again, and it is the same inode.

Whether a cut made while the agent was away counts as a loss is the design's call (the agent did not look meanwhile,
as after a lapse); the cause it names must be what it found. docs/design.md ("Loss messages name the cause and the
size"): "truncated in place with no copy" and "truncated and written again while the agent was away" are two causes.
Found by hand 2 of 2 (the words said within 3 s of the start, before anything was written to the log).
"""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.e2e.fluentd_agent import run_agent, stored, write_config, write_lines
from tests.peers.forward_server import ForwardServer
from tests.support import free_port, stop_process, wait_until

pytestmark = pytest.mark.slow  # (two agent starts: handed out first)


def test_a_log_emptied_while_stopped_is_not_said_written_again(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    write_lines(log, "a", 0, 100)
    peer = ForwardServer(port=free_port()).start()
    http = free_port()
    cfg = write_config(tmp_path, http, [log], [("fwd", peer.port)])
    journal = tmp_path / "agent.err"
    agent = run_agent(cfg, journal)
    try:
        wait_until(lambda: len(stored(peer)) == 100, 60, "the lines delivered")
        time.sleep(2.0)
        stop_process(agent, 60)
        inode = log.stat().st_ino
        with open(log, "w"):
            pass  # `: > app.log` while the agent is stopped
        before = len(journal.read_text().splitlines())
        agent = run_agent(cfg, journal)
        time.sleep(3.0)  # the start's look and what it says; nothing is written meanwhile
        assert log.stat().st_size == 0 and log.stat().st_ino == inode
    finally:
        stop_process(agent, 60)
        peer.stop()
    said = [ln.split("msg=")[1][:220] for ln in journal.read_text().splitlines()[before:]
            if "msg=" in ln and "app.log" in ln and "lost" in ln]
    assert said and not any("written again" in s for s in said), said
