"""Attack 24 (exam24d, issues 13 and 21): a log truncated in place with no copy (Log4j MaxBackupIndex=0, copytruncate
whose copy is gone, `: > app.log`) while lines written to it were never read, because the output was down (the reader
held back by backpressure, the agent alive) or the agent frozen (SIGSTOP).

Session 23 made a truncation of a log "read to its end at every look" a possible loss, warned `data possibly lost: an
unknown number of bytes (possibly none) …`, not counted (docs/operations.md, "copytruncate loses lines"), and a cut
"after a look saw it grown past what was read" a counted loss, `N bytes or more`. Here the agent never read those
lines: it stopped reading at the output's queue (or was frozen), so no look saw the growth. 5,000 lines (~490 KB)
written over half a second, then the cut: 4,000 of them never delivered (5,000 with the agent frozen), and the journal
says `data possibly lost … (possibly none) … the file was truncated in place after it had been read to its end`, which
is false; `shipper_losses_total` 0, `shipper_bytes_lost_total` 0. Issue 13 asks that what escapes while the output is
down or the agent frozen be counted and warned; the agent knew it had not read what the file held (its reader was
held back / it was frozen). Found 2 of 2 each way by hand (also 20,000 lines: 19,000 lost, "possibly none").
Fixed by shipper/tail/attention.py: a hand-over that waited a second or more, or a SIGCONT, after the file's last read
to its end is a lapse of attention, and a truncation after one is a counted loss naming it.
"""
from __future__ import annotations

import json
import os
import re
import signal
import time
from pathlib import Path

import pytest

from tests.e2e.fluentd_agent import metric_value, run_agent, stored, write_config, write_lines
from tests.peers.forward_server import ForwardServer
from tests.support import free_port, stop_process, wait_until

pytestmark = pytest.mark.slow  # (an agent, writers and waits of many seconds: handed out first)


@pytest.mark.parametrize("held_back", ["output_down", "agent_frozen"])
def test_a_log_cut_while_unread_lines_were_in_it_is_a_counted_loss(tmp_path: Path, held_back: str) -> None:
    peer = ForwardServer(port=free_port()).start()
    log = tmp_path / "app.log"
    write_lines(log, "a", 0, 100)
    http = free_port()
    agent = run_agent(write_config(tmp_path, http, [log], [("fwd", peer.port)]), tmp_path / "agent.err")
    try:
        wait_until(lambda: len(stored(peer)) == 100, 60, "the first lines delivered")
        time.sleep(1.0)  # read to its end, delivered, quiet
        if held_back == "output_down":
            peer.frozen.set()  # reads nothing, acks nothing: the agent's queue fills, its reader stops
        else:
            os.kill(agent.pid, signal.SIGSTOP)
        for start in range(100, 5100, 1000):
            write_lines(log, "a", start, 1000)
            time.sleep(0.05)
        time.sleep(2.0)
        os.truncate(log, 0)  # no copy: what was not read is gone
        time.sleep(0.5)
        write_lines(log, "a", 5100, 10)
        time.sleep(0.5)
        if held_back == "output_down":
            peer.frozen.clear()
        else:
            os.kill(agent.pid, signal.SIGCONT)
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


def test_log4j_max_backup_index_0_through_an_outage_counts_what_it_cut(
        tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Issue 13's held-out outage script with MaxBackupIndex=0 (docs: "Log4j `MaxBackupIndex=0` truncates in place by
    design and every such rotation is warned about"): the lines written while the output was down and cut by the
    rotations are lost, and must be counted (issue 13: what escapes is counted and warned, never silent). By hand,
    5,000 lines/s, 100 KB files: 45,426 of 60,000 lost, 4 warnings "possibly none", 0 counted (1 of 1, and the same
    shape in the test above)."""
    from tests.java.writers import Log4j, compile_writers
    from tests.tail.seq_log import seqs

    logs = tmp_path / "logs"
    logs.mkdir()
    peer = ForwardServer(port=free_port()).start()
    http = free_port()
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(json.dumps({
        "state_dir": str(tmp_path / "state"), "shutdown_timeout": 5, "http": {"listen": f"127.0.0.1:{http}"},
        "sources": [{"name": "app", "type": "file", "paths": [str(logs / "app.log")], "parser": "json"}],
        "outputs": [{"type": "fluentd", "host": "127.0.0.1", "port": peer.port, "backoff_max": 1.0}]}))
    agent = run_agent(cfg, tmp_path / "agent.err", timeout=120)
    classes = compile_writers(tmp_path_factory.getbasetemp() / "exam24d-java")
    try:
        writer = Log4j(classes).log4j1(logs / "app.log", 100_000, 0, 1, 60_000, rate=5000, wait=False)
        wait_until(lambda: len(seqs(peer)) >= 2000, 60, "lines delivered before the outage")
        peer.stop()
        time.sleep(10.0)
        peer.start()
        writer.wait(timeout=300)
        on_disk = {int(m) for m in re.findall(r'"seq":(\d+)', (logs / "app.log").read_text())}
        wait_until(lambda: on_disk <= seqs(peer), 120, "the lines still on disk delivered")
        time.sleep(3.0)  # a late warning, if any
        losses = metric_value(http, "shipper_losses_total")
    finally:
        stop_process(agent, 60)
        peer.stop()
    missing = set(range(1, 60_001)) - seqs(peer)
    assert missing, "every line was delivered: the premise (rotations cut lines away unread) did not occur"
    journal = (tmp_path / "agent.err").read_text()
    assert (losses or 0) >= 1 and "data lost" in journal, (
        f"{len(missing)} lines cut away unread; counted {losses}; "
        f"said: {[ln[:160] for ln in journal.splitlines() if 'lost' in ln]}")


def test_a_rotated_backup_emptied_during_an_outage_is_a_counted_loss_named_by_its_name(tmp_path: Path) -> None:
    """The output down (the reader held back after ~1,000-2,000 of 5,000 new lines), the log renamed to app.log.1 and a
    new app.log written, then `: > app.log.1` (an operator freeing disk during the outage). By hand 2 of 2: 3,000 and
    4,000 lines lost, the warning "possibly none" and naming …/app.log, the file not emptied; cut to 100 KB instead
        (`truncate -s 100000`), the same, named app.log.1 (1 of 1). Counted since session 24 (a lapse of attention); named
    app.log.1 since session 25: the reader, held back, had seen no rename, and a cut found through the descriptor is
    named by the name that holds the file now (truncation._name_now)."""
    peer = ForwardServer(port=free_port()).start()
    logs = tmp_path / "logs"
    logs.mkdir()
    log = logs / "app.log"
    write_lines(log, "a", 0, 100)
    http = free_port()
    agent = run_agent(write_config(tmp_path, http, [log], [("fwd", peer.port)]), tmp_path / "agent.err")
    try:
        wait_until(lambda: len(stored(peer)) == 100, 60, "the first lines delivered")
        time.sleep(1.0)
        peer.frozen.set()  # the outage: the agent's queue fills, its reader stops
        for start in range(100, 5100, 1000):
            write_lines(log, "a", start, 1000)
            time.sleep(0.05)
        os.replace(log, logs / "app.log.1")
        write_lines(log, "a", 5100, 100)
        time.sleep(2.0)
        with open(logs / "app.log.1", "w"):
            pass  # `: > app.log.1`
        time.sleep(1.0)
        peer.frozen.clear()
        wait_until(lambda: {("a", n) for n in range(5100, 5200)} <= set(stored(peer)), 120, "the new log's lines")
        time.sleep(3.0)  # a late warning, if any
        losses = metric_value(http, "shipper_losses_total")
    finally:
        stop_process(agent, 60)
        peer.stop()
    missing = {("a", n) for n in range(100, 5100)} - set(stored(peer))
    assert missing, "every line was delivered: the premise (unread lines emptied away) did not occur"
    journal = (tmp_path / "agent.err").read_text()
    named = [ln for ln in journal.splitlines() if "data lost" in ln and "app.log.1" in ln]
    assert named and (losses or 0) >= 1, (
        f"{len(missing)} lines emptied away unread; counted {losses}; "
        f"said: {[ln.split('msg=')[1][:140] for ln in journal.splitlines() if 'lost' in ln]}")
