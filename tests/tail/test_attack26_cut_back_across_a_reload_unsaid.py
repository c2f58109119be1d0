"""Attack 26 (exam26c, issue 13's "written to and cut back" rule): the output down, the reader held back behind 5,000
lines; 50 lines appended, the log cut back in place to the size it had and its mtime set back (`truncate -s`,
`touch -d`: one who wants lines gone from an audit trail), and a reload that restarts the file source (SIGHUP after a
change to its `tags`) comes just after the cut (0.2 s) or just before it (0.5 s; also 2.5 s, inside the restart's wait
for the batches in flight, by hand). The 50 lines are in no output, nothing is said, `shipper_losses` 0. The same cut
without the reload is `data lost: … written to it after byte N were cut away unread: the file was written to and cut
back in place …` (counted): tests/tail/test_attack25_cut_back_mtime_restored_silent.py.

docs/operations.md ("copytruncate loses lines"): "Lines appended and cut away again before the agent read them, the
log cut back to the size it had (its mtime set back with `touch -d`, or not), are `data possibly lost: … written to
and cut back in place to N bytes …` (after a lapse, `data lost …`, counted)". The look before and the watcher's events
die with the source the reload stops; the restarted source's first look has nothing to compare with. Found by hand 3
of 3 (the three timings), again 2 of 2 in this file.
Passes since the looks while held note the watcher's events first and decide the cut back at once, the hold being the
lapse (cut13c: truncation.cut_back_unseen, Lapses.holding): the restarted source's reader is held until then.
"""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from tests.e2e.fluentd_agent import metric_value, run_agent, stored, write_config, write_lines
from tests.peers.forward_server import ForwardServer
from tests.support import free_port, stop_process, wait_until

pytestmark = pytest.mark.slow  # (an agent, an outage, a reload's wait)


@pytest.mark.parametrize("order", ["cut_back_then_reload", "reload_then_cut_back"])
def test_lines_cut_back_across_a_reload_are_named(tmp_path: Path, order: str) -> None:
    log = tmp_path / "app.log"
    write_lines(log, "a", 0, 100)
    peer = ForwardServer(port=free_port()).start()
    http = free_port()
    agent = run_agent(write_config(tmp_path, http, [log], [("fwd", peer.port)]), tmp_path / "agent.err")

    def cut_back() -> None:
        before = os.stat(log)
        write_lines(log, "h", 0, 50)  # the lines to hide
        os.truncate(log, before.st_size)
        os.utime(log, ns=(before.st_atime_ns, before.st_mtime_ns))

    def reload() -> None:
        write_config(tmp_path, http, [log], [("fwd", peer.port)], tags=["reloaded"])  # the source restarts
        agent.send_signal(signal.SIGHUP)

    try:
        wait_until(lambda: len(stored(peer)) == 100, 60, "the first lines delivered")
        time.sleep(1.5)
        peer.frozen.set()  # the reader stops at its full queue
        write_lines(log, "o", 0, 5000)
        time.sleep(3.0)
        if order == "cut_back_then_reload":
            cut_back()
            time.sleep(0.2)
            reload()
        else:
            reload()
            time.sleep(0.5)
            cut_back()
        wait_until(lambda: "msg=reloaded" in (tmp_path / "agent.err").read_text(), 60, "the reload done")
        time.sleep(2.0)
        peer.frozen.clear()
        write_lines(log, "a", 1000, 10)
        wait_until(lambda: {("a", n) for n in range(1000, 1010)} <= set(stored(peer)), 120, "the lines after")
        time.sleep(2.0)  # a late warning, if any
        losses = metric_value(http, "shipper_losses_total")
    finally:
        stop_process(agent, 60)
        peer.stop()
    journal = (tmp_path / "agent.err").read_text()
    assert "sources_restarted=app" in journal, "the premise: the reload restarted the source"
    assert not {("h", n) for n in range(50)} & set(stored(peer)), "the premise: the 50 lines were read before the cut"
    named = [ln for ln in journal.splitlines() if "lost" in ln and "app.log" in ln]
    assert named and (losses or 0) >= 1, f"50 lines cut away after a lapse, said {named}, counted {losses}"
