"""Issue 13 (unread13, session 20): a kill -9 in the middle of a stop's saves (systemd's SIGKILL after
TimeoutStopSec, an operator's second Ctrl-C as kill -9). The only output is down; the reader waits on the first file,
which rotates away with 20 more files while it waits (the holder holds them). SIGTERM, then kill -9 at some moment of
the stop: before its saves, between them, or after. While the agent is stopped the rotated files are deleted. The next
start must name what was lost: with its size, or, when the stop's saves were cut, the first file's unread bytes as
the least lost (`N bytes or more`: what the killed agent held was known to it only). Before 688a8f6 a kill before
the saves named 223,890 bytes as a certain loss of 240,990 (3 of 3; with 200 files, of 402,990). A kill between two
of the saves was not hit on purpose (they are milliseconds apart); each save is one transaction."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess

import pytest

from tests.e2e.fluentd_agent import held_back_config, run_agent, source_status
from tests.peers.forward_server import ForwardServer
from tests.support import stop_process, wait, wait_until
from tests.tail.attack_agent import free_port
from tests.tail.test_stop_save_larger_than_room_left import FIRST, PER, _write

pytestmark = pytest.mark.slow

ROTATED = 20


# 0 and 4.8 s: before the saves (they come after shutdown_timeout, 5 s); 60: the stop ends first, nothing is cut
@pytest.mark.parametrize("kill_after", [0.0, 4.8, 60.0])
def test_a_kill_during_the_stops_saves_leaves_no_loss_unnamed(tmp_path, kill_after):
    logs = tmp_path / "logs"
    logs.mkdir()
    app = logs / "app.log"
    server = ForwardServer(port=free_port())
    http = free_port()
    cfg, err = held_back_config(tmp_path, app, server.port, http, batch_size=100, hold_max_files=4 * ROTATED), \
        tmp_path / "agent.err"
    _write(app, 0, FIRST)
    agent = run_agent(cfg, err)
    try:
        wait_until(lambda: "fluentd delivery failed" in err.read_text(), 60, "the first delivery to fail")
        seq = FIRST
        for i in range(1, ROTATED + 1):
            os.rename(app, logs / f"app.log.{i}")
            _write(app, seq, seq + PER)
            seq += PER
        wait_until(lambda: source_status(http)["status"]["held_files"] >= ROTATED, 60, "the rotated files held")
        agent.send_signal(signal.SIGTERM)
        wait_until(lambda: "msg=stopping" in err.read_text(), 30, "the stop begun", every=0.01)
        if kill_after:
            try:
                agent.wait(kill_after)  # the stop goes on meanwhile (it may end first: then nothing is cut)
            except subprocess.TimeoutExpired:
                pass
        agent.kill()
        agent.wait()
        for i in range(1, ROTATED + 1):  # deleted while the agent is stopped
            os.unlink(logs / f"app.log.{i}")
        server.start()
        restarted_at = len(err.read_text())
        agent = run_agent(cfg, err)
        wait_until(lambda: {r["generic"]["seq"] for _, _, r in list(server.records)} >= set(range(seq - PER, seq)), 60,
                   "the live file's lines")
        # The first file is gone once two scans 1 s apart miss it (a rename races with a scan): the live file's lines
        # may come first. Stopped then, this agent had named nothing yet (the first file's state saved undecided,
        # named by the start after: seen once in 9 runs at load 15). A loss never named fails the asserts below.
        wait(lambda: "data lost" in err.read_text()[restarted_at:], 30, every=0.1)
    finally:
        stop_process(agent, 60)
        server.stop()
    got = {r["generic"]["seq"] for _, _, r in server.records}
    lost = sum(len(_line(n)) for n in range(seq) if n not in got)
    journal = err.read_text()
    certain = sum(int(n) for n in re.findall(r"bytes_lost=(\d+) size_known=True", journal))
    at_least = "size_known=False" in journal
    assert lost, "not the scenario: nothing lost"
    assert certain <= lost, f"{lost} bytes lost, {certain} named as certain:\n{journal}"
    assert certain == lost or at_least, f"{lost} bytes lost, {certain} named, none as 'or more':\n{journal}"


def _line(n: int) -> str:
    return json.dumps({"seq": n, "msg": "x" * 20}) + "\n"  # (as test_stop_save_larger_than_room_left writes them)
