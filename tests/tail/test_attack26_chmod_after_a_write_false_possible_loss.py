"""Attack 26 (exam26c, issue 13's cut-back rule), no outage: a followed log written to, then `chmod`ed 20 ms later
(inside the 0.05 s gather window: a busy writer's log whose mode a tool enforces, a `chmod`/`chown` by hand while it
is written). Each such chmod is warned `data possibly lost: an unknown number of bytes (possibly none) of app.log
written after byte N: the file was written to and cut back in place …`: 20 of 20 chmods said so by hand, nothing cut,
every line delivered once. With the chmod 0.1 s after the write, or at the same instant, nothing is said.

docs/operations.md ("copytruncate loses lines"); design.md case 7: "a rename or a chmod alone is no cut
(truncation.cut_back_unseen)". The window's look sees the size the write left; the chmod moves the change time; the
write's IN_MODIFY and the chmod's IN_ATTRIB reach the read together, as a cut back's would. Found by hand 20 of 20
(gap 0.02 s), 0 of 20 at 0 and 0.1 s. A plain xfail: whether the chmod lands inside the window depends on the load.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.e2e.fluentd_agent import metric_value, run_agent, stored, write_config, write_lines
from tests.peers.forward_server import ForwardServer
from tests.support import free_port, stop_process, wait_until

pytestmark = pytest.mark.slow  # (an agent, 20 rounds)


@pytest.mark.xfail(reason="a chmod 20 ms after a write (inside the gather window) is warned 'data possibly lost … "
                   "written to and cut back in place', nothing cut (exam26c, 20 of 20 by hand; timing: load decides)")
def test_a_chmod_just_after_a_write_is_no_cut(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    write_lines(log, "a", 0, 100)
    peer = ForwardServer(port=free_port()).start()
    http = free_port()
    agent = run_agent(write_config(tmp_path, http, [log], [("fwd", peer.port)]), tmp_path / "agent.err")
    n = 100
    try:
        wait_until(lambda: len(stored(peer)) == 100, 60, "the first lines delivered")
        time.sleep(1.0)
        for r in range(20):
            write_lines(log, "a", n, 10)
            n += 10
            time.sleep(0.02)
            os.chmod(log, 0o640 if r % 2 else 0o644)
            time.sleep(0.3)
        wait_until(lambda: len(stored(peer)) >= n, 60, "every line delivered")
        time.sleep(2.0)  # a late warning, if any
        losses = metric_value(http, "shipper_losses_total")
    finally:
        stop_process(agent, 60)
        peer.stop()
    got = stored(peer)
    assert all(got[("a", k)] == 1 for k in range(n)), "the premise: every line delivered once"
    said = [ln for ln in (tmp_path / "agent.err").read_text().splitlines() if "lost" in ln and "app.log" in ln]
    assert not said and not losses, f"{len(said)} of 20 chmods said a loss, counted {losses}: {said[:1]}"
