"""Attack 25 (exam25d, issue 13): a slow output, not a down one — a Fluentd that acks each chunk 0.1-0.3 s late (a busy
aggregator, a long link). The agent reads a 3,000-6,000-line backlog to its end at once, then hands it over batch by
batch for several seconds, each hand-over waiting for room in the output's queue less than a second. Meanwhile the log
gets 500 lines (3 s after that read to the end: not a "busy writer") and is truncated in place half a second later
(copytruncate whose copy is gone, Log4j MaxBackupIndex=0, `: >`). The reader never looked at the 500 lines; the cut is
warned `data possibly lost: an unknown number of bytes (possibly none) … read to its end`, `shipper_losses` 0.

docs/operations.md ("copytruncate loses lines") counts the cut when "its output's queue full (backpressure holds the
reader for a second or more)"; the reader here was held by backpressure for 3.7 s in a row, in waits each shorter than
a second, and is told from a reader that watched the file all along. With acks 0.7 s late one wait passes a second and
the same cut is counted ("the agent did not read for 1 s"). Found by hand 2 of 2 (acks 0.3 s and 0.15 s late, 3,000
lines of backlog: 500 of 500 lines lost, "possibly none"). Fixed: the waits of one read call are summed
(attention.Lapses.timed).
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from tests.e2e.fluentd_agent import metric_value, run_agent, stored, write_lines
from tests.peers.forward_server import ForwardServer
from tests.support import free_port, stop_process, wait_until

pytestmark = pytest.mark.slow  # (an agent and ~20 s of waits: handed out first)


def test_lines_cut_while_a_slow_output_holds_the_reader_are_a_counted_loss(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    write_lines(log, "a", 0, 100)
    peer = ForwardServer(port=free_port(), mode="delay_ack", ack_delay=0.15).start()
    http = free_port()
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(json.dumps({
        "state_dir": str(tmp_path / "state"), "shutdown_timeout": 3, "http": {"listen": f"127.0.0.1:{http}"},
        "sources": [{"name": "app", "type": "file", "paths": [str(log)], "parser": "json", "batch_size": 100,
                     "parse_workers": 0}],
        "outputs": [{"type": "fluentd", "host": "127.0.0.1", "port": peer.port, "flush_interval": 0.2,
                     "batch_size": 100}]}))
    agent = run_agent(cfg, tmp_path / "agent.err")
    try:
        wait_until(lambda: len(stored(peer)) == 100, 60, "the first lines delivered")
        time.sleep(1.5)
        write_lines(log, "a", 100, 4000)  # read to its end at once, handed over for seconds
        time.sleep(3.0)
        assert len(stored(peer)) < 4100, "the backlog was delivered already: the premise (reader held back) failed"
        write_lines(log, "a", 100_000, 500)
        time.sleep(0.5)
        os.truncate(log, 0)
        time.sleep(1.0)
        write_lines(log, "a", 200_000, 10)
        wait_until(lambda: {("a", n) for n in range(200_000, 200_010)} <= set(stored(peer)), 120,
                   "the lines after the cut")
        time.sleep(2.0)  # a late warning, if any
        losses = metric_value(http, "shipper_losses_total")
    finally:
        stop_process(agent, 60)
        peer.stop()
    missing = {("a", n) for n in range(100_000, 100_500)} - set(stored(peer))
    assert missing, "the 500 lines were read before the cut: the premise did not occur"
    journal = (tmp_path / "agent.err").read_text()
    named = [ln for ln in journal.splitlines() if "data lost" in ln and "app.log" in ln]
    assert named and (losses or 0) >= 1, (
        f"{len(missing)} lines cut away unread; counted {losses}; "
        f"said: {[ln.split('msg=')[1][:160] for ln in journal.splitlines() if 'lost' in ln]}")
