"""Issue 13 (the agent frozen, its loss counted and warned), the freeze without a signal: `systemctl freeze`, `docker
pause`, Kubernetes' pause — a cgroup freeze — stops the process with no SIGSTOP and no SIGCONT, so session 24's lapse
rule (backpressure, SIGCONT) did not see it. 5,000 lines written into a log read to its end, the log then truncated in
place (no copy), all while the agent was frozen: 5,000 lines lost, said `data possibly lost … (possibly none)`, 0
counted (the lead, 1 of 1 before the fix; the same script with SIGSTOP was counted). shipper/tail/attention.py's clock
watch sees the agent was not run, and the cut is a counted loss naming it. And the other way: a freeze with nothing
written, then a quiet log emptied well after the thaw, is still only "possibly" — the freeze does not explain a cut the
agent, attending again, came to late."""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.e2e.fluentd_agent import metric_value, run_agent, stored, write_config, write_lines
from tests.freezer import freezer_of
from tests.peers.forward_server import ForwardServer
from tests.support import free_port, stop_process, wait_until

pytestmark = pytest.mark.slow  # (an agent, a freeze of seconds, waits)


def test_a_cut_while_the_agent_was_frozen_by_its_cgroup_is_a_counted_loss(tmp_path: Path) -> None:
    peer = ForwardServer(port=free_port()).start()
    log = tmp_path / "app.log"
    write_lines(log, "a", 0, 100)
    http = free_port()
    agent = run_agent(write_config(tmp_path, http, [log], [("fwd", peer.port)]), tmp_path / "agent.err")
    try:
        wait_until(lambda: len(stored(peer)) == 100, 60, "the first lines delivered")
        time.sleep(1.0)  # read to its end, delivered, quiet
        with freezer_of(agent.pid) as freezer:
            freezer.freeze()
            for start in range(100, 5100, 1000):
                write_lines(log, "a", start, 1000)
                time.sleep(0.05)
            time.sleep(2.0)
            os.truncate(log, 0)  # no copy: what was not read is gone
            time.sleep(0.5)
            write_lines(log, "a", 5100, 10)
            time.sleep(0.5)
        wait_until(lambda: {("a", n) for n in range(5100, 5110)} <= set(stored(peer)), 120, "the lines after the cut")
        time.sleep(3.0)  # a late warning, if any
        losses = metric_value(http, "shipper_losses_total")
    finally:
        stop_process(agent, 60)
        peer.stop()
    missing = {("a", n) for n in range(100, 5100)} - set(stored(peer))
    assert missing, "every line was delivered: the premise (lines cut away unread) did not occur"
    journal = (tmp_path / "agent.err").read_text()
    named = [ln for ln in journal.splitlines() if "data lost" in ln and "app.log" in ln]
    assert named and (losses or 0) >= 1, (
        f"{len(missing)} lines cut away unread; counted {losses}; "
        f"said: {[ln[:200] for ln in journal.splitlines() if 'lost' in ln]}")
    assert "not run" in named[0], named[0]


def test_a_quiet_log_emptied_well_after_a_freeze_is_only_a_possible_loss(tmp_path: Path) -> None:
    peer = ForwardServer(port=free_port()).start()
    log = tmp_path / "app.log"
    write_lines(log, "a", 0, 100)
    http = free_port()
    agent = run_agent(write_config(tmp_path, http, [log], [("fwd", peer.port)]), tmp_path / "agent.err")
    try:
        wait_until(lambda: len(stored(peer)) == 100, 60, "the first lines delivered")
        with freezer_of(agent.pid) as freezer:
            freezer.freeze()
            time.sleep(3.0)  # frozen, nothing written
        time.sleep(8.0)  # attending again, the log quiet
        os.truncate(log, 0)  # an operator empties a quiet log
        time.sleep(0.5)
        write_lines(log, "a", 100, 10)
        wait_until(lambda: {("a", n) for n in range(100, 110)} <= set(stored(peer)), 120, "the lines after the cut")
        time.sleep(2.0)
        losses = metric_value(http, "shipper_losses_total")
    finally:
        stop_process(agent, 60)
        peer.stop()
    assert set(stored(peer)) == {("a", n) for n in range(110)}
    journal = (tmp_path / "agent.err").read_text()
    assert "data possibly lost" in journal and "data lost" not in journal, journal[-2000:]
    assert not losses, losses
