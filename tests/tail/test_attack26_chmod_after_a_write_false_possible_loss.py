"""Attack 26 (exam26c, issue 13's cut-back rule), no outage: a followed log written to, then `chmod`ed 20 ms later
(inside the 0.05 s gather window: a busy writer's log whose mode a tool enforces, a `chmod`/`chown` by hand while it
is written). Each such chmod is warned `data possibly lost: an unknown number of bytes (possibly none) of app.log
written after byte N: the file was written to and cut back in place …`: 20 of 20 chmods said so by hand, nothing cut,
every line delivered once. With the chmod 0.1 s after the write, or at the same instant, nothing is said.

docs/operations.md ("copytruncate loses lines"); design.md case 7: "a rename or a chmod alone is no cut
(truncation.cut_back_unseen)". The window's look sees the size the write left; the chmod moves the change time; the
write's IN_MODIFY and the chmod's IN_ATTRIB reach the read together, as a cut back's would. Found by hand 20 of 20
(gap 0.02 s), 0 of 20 at 0 and 0.1 s. Was a plain xfail (whether the chmod lands inside the window depends on the
load). Fixed (cut13c): each batch of events is noted as the watcher takes it, before the look that follows it.
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


def _chmods_after_writes(tmp_path: Path, cut: bool) -> tuple[dict, int, list[str], float | None]:
    """20 rounds: 10 lines written, 20 ms later a chmod (after 5 lines appended and cut away at once, `cut`); the lines
    delivered, how many written, the journal's lines that say "lost" of app.log, the losses."""
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
            if cut:
                size = log.stat().st_size
                write_lines(log, "h", 5 * r, 5)
                os.truncate(log, size)
            os.chmod(log, 0o640 if r % 2 else 0o644)
            time.sleep(0.3)
        wait_until(lambda: len(stored(peer)) >= n, 60, "every line delivered")
        time.sleep(2.0)  # a late warning, if any
        losses = metric_value(http, "shipper_losses_total")
    finally:
        stop_process(agent, 60)
        peer.stop()
    said = [ln for ln in (tmp_path / "agent.err").read_text().splitlines() if "lost" in ln and "app.log" in ln]
    return stored(peer), n, said, losses


def test_a_chmod_just_after_a_write_is_no_cut(tmp_path: Path) -> None:
    # Fixed: the gather window's look notes the events taken before it first (ChangeWatcher.wait's `note`): the write
    # comes before it, the chmod after, and the read's look finds no write since (looks.stat).
    got, n, said, losses = _chmods_after_writes(tmp_path, cut=False)
    assert all(got[("a", k)] == 1 for k in range(n)), "the premise: every line delivered once"
    assert not said and not losses, f"{len(said)} of 20 chmods said a loss, counted {losses}: {said[:1]}"


def test_lines_cut_back_just_after_a_write_are_named(tmp_path: Path) -> None:
    # The twin: 5 lines appended and cut away at once before each chmod: each cut named "possibly lost" (no lapse:
    # within the gather window, a write and its cut are one change to any reader).
    got, n, said, losses = _chmods_after_writes(tmp_path, cut=True)
    assert all(got[("a", k)] == 1 for k in range(n)), "the premise: every line delivered once"
    assert not {("h", k) for k in range(100)} & set(got), "the premise: the lines were cut away unread"
    # (A cut the window's look comes after, the load delaying it, is one change with the write: only the others.)
    cuts = [ln for ln in said if "cut back in place" in ln]
    assert cuts, f"20 cuts, none named (counted {losses}): {said[:2]}"
