"""Attack 25 (exam25d, issue 13): a source with `gather_interval: 3` (allowed up to 10 s; README: "CPU per line against
latency"). The log quiet for 1.5 s after its last read to the end, then 50 lines written, then the log truncated in
place (copytruncate whose copy is gone, Log4j MaxBackupIndex=0, `: >`) 0.5-1 s later, inside the window the agent
waits on purpose after the change notification: the 50 lines were never read, and the cut is warned `data possibly
lost: an unknown number of bytes (possibly none) … read to its end`, `shipper_losses` 0.

docs/operations.md ("copytruncate loses lines") keeps "possibly none" for a cut that "a write just before the cut and
the cut itself reach … as one change"; here the agent had the write's notification a second before the cut and chose
not to read for 3 s: a lapse of attention of its own making, longer than the second after which a lapse from
backpressure or a SIGSTOP is counted ("lines written meanwhile were cut away unread"). Found by hand 3 of 3 with
`gather_interval: 3` (gaps 0.5 and 1.0 s); with `gather_interval: 2` the lines were read (2 of 2).
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

pytestmark = pytest.mark.slow  # (an agent and ~15 s of waits: handed out first)

GATHER = 3.0


def test_lines_cut_inside_the_gather_window_are_a_counted_loss(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    write_lines(log, "a", 0, 100)
    peer = ForwardServer(port=free_port()).start()
    http = free_port()
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(json.dumps({
        "state_dir": str(tmp_path / "state"), "shutdown_timeout": 3, "http": {"listen": f"127.0.0.1:{http}"},
        "sources": [{"name": "app", "type": "file", "paths": [str(log)], "parser": "json",
                     "gather_interval": GATHER}],
        "outputs": [{"type": "fluentd", "host": "127.0.0.1", "port": peer.port, "flush_interval": 0.2}]}))
    agent = run_agent(cfg, tmp_path / "agent.err")
    try:
        wait_until(lambda: len(stored(peer)) == 100, 60, "the first lines delivered")
        time.sleep(1.5)  # read to its end, quiet: not a busy writer
        write_lines(log, "a", 100, 50)
        time.sleep(1.0)  # inside the gather window
        os.truncate(log, 0)
        time.sleep(GATHER + 1.0)
        write_lines(log, "a", 1000, 10)
        wait_until(lambda: {("a", n) for n in range(1000, 1010)} <= set(stored(peer)), 60, "the lines after the cut")
        time.sleep(2.0)  # a late warning, if any
        losses = metric_value(http, "shipper_losses_total")
    finally:
        stop_process(agent, 60)
        peer.stop()
    missing = {("a", n) for n in range(100, 150)} - set(stored(peer))
    assert missing, "the 50 lines were read before the cut: the premise (cut inside the gather window) did not occur"
    journal = (tmp_path / "agent.err").read_text()
    named = [ln for ln in journal.splitlines() if "data lost" in ln and "app.log" in ln]
    assert named and (losses or 0) >= 1, (
        f"{len(missing)} lines cut away unread; counted {losses}; "
        f"said: {[ln.split('msg=')[1][:160] for ln in journal.splitlines() if 'lost' in ln]}")
