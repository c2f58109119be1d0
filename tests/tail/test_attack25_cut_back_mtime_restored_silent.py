"""Attack 25 (exam25d, issue 13 — "touch -d games on the mtime"): lines appended to a followed log, then the log cut back
in place to the size it had before them and its mtime set back to what it was (`truncate -s`, `touch -d`; here
os.truncate and os.utime with nanoseconds): one who wants lines gone from an audit trail. The agent says nothing at
all — no "truncated", no "data lost", not even "data possibly lost" — and counts nothing; the 50 lines are in no
output.
- live: the log read to its end and quiet; the lines written, cut and the mtime restored at once (inside the 0.05 s
  gather window);
- during an outage: the output down (the reader held back by its full queue: a lapse of attention, issue 13), 5,000
  lines written, then the 50 lines written, cut away and the mtime restored; the output back 2 s later: the 5,000 are
  delivered, the 50 are not, and nothing is said.

docs/operations.md ("copytruncate loses lines"): a log truncated in place with no copy is at least "data possibly lost
… (possibly none)"; after a lapse of attention, "data lost". README: "Truncation in place is detected … Loss is loud".
The inode's ctime moved (a write, a truncate and a utime each set it; no call sets it back), and the change
notifications came: the agent can know the file was changed while its size and mtime say it was not. Found by hand 2
of 2 (one each way) and 2 of 2 in this file.
Fixed (truncation.cut_back_unseen): a look that finds the log as long as at the look before, its change time moved,
borne out by the watcher's events (written to; with its mtime as it was, its times changed too) is a cut back.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.e2e.fluentd_agent import metric_value, run_agent, stored, write_config, write_lines
from tests.peers.forward_server import ForwardServer
from tests.support import free_port, stop_process, wait_until

pytestmark = pytest.mark.slow  # (an agent and ~15 s of waits: handed out first)


@pytest.mark.parametrize("when", ["live", "during_an_outage"])
def test_lines_cut_back_with_the_mtime_restored_are_named(tmp_path: Path, when: str) -> None:
    log = tmp_path / "app.log"
    write_lines(log, "a", 0, 100)
    peer = ForwardServer(port=free_port()).start()
    http = free_port()
    agent = run_agent(write_config(tmp_path, http, [log], [("fwd", peer.port)]), tmp_path / "agent.err")
    try:
        wait_until(lambda: len(stored(peer)) == 100, 60, "the first lines delivered")
        time.sleep(1.5)
        if when == "during_an_outage":
            peer.frozen.set()  # the reader stops at its full queue
            write_lines(log, "o", 0, 5000)
            time.sleep(3.0)
        before = os.stat(log)
        write_lines(log, "h", 0, 50)  # the lines to hide
        os.truncate(log, before.st_size)
        os.utime(log, ns=(before.st_atime_ns, before.st_mtime_ns))
        after = os.stat(log)
        assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)
        time.sleep(2.0)
        peer.frozen.clear()
        write_lines(log, "a", 1000, 10)
        wait_until(lambda: {("a", n) for n in range(1000, 1010)} <= set(stored(peer)), 120, "the lines after")
        time.sleep(2.0)  # a late warning, if any
        losses = metric_value(http, "shipper_losses_total")
    finally:
        stop_process(agent, 60)
        peer.stop()
    assert not {("h", n) for n in range(50)} & set(stored(peer)), "the premise: the 50 lines were read before the cut"
    journal = (tmp_path / "agent.err").read_text()
    named = [ln for ln in journal.splitlines() if "lost" in ln and "app.log" in ln]
    assert named, f"50 lines cut away, nothing said (counted {losses})"
    if when == "during_an_outage":
        assert (losses or 0) >= 1, f"cut after a lapse of attention, not counted: {named}"
