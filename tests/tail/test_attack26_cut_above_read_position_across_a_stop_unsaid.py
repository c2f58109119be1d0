"""Attack 26 (exam26c, issue 13's cut above the read position, and "a cut a look found before a stop"): the output
down, the reader held back in a growing log, a look has seen it 1,998,890 bytes long (`/status` says so); the log is
cut in place to a size above the read position (`truncate -s`, a tool trimming a log to a size limit during the
outage), and the agent is stopped (SIGTERM; the stop gives up its wait after shutdown_timeout) and started again before
its next read — the cut while it runs, 0.3 s before the stop (its looks, about once a second while held, and the stop's
own, can see it shrunk), or while it is stopped. 3,998 lines cut away unread, nothing said (no "data lost", no
"truncated"), `shipper_losses` 0, at the stop and at the start.

docs/operations.md ("copytruncate loses lines"): "A log cut in place to a size still above what was read … after a
look saw it longer … is `data lost: N bytes or more of app.log were cut away unread …` (counted)", and "so too a log
emptied and the agent stopped right after, when the agent looked at the cut before the stop"; design.md case 7. The
looks are memory only: the restarted agent reads on from its checkpoint as if the log had only grown (compare
tests/tail/test_attack26_cut_above_read_position_across_a_reload_unsaid.py, the same across a reload). Found by hand 1
of 1 each way, again 2 of 2 in this file.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.e2e.fluentd_agent import metric_value, run_agent, write_lines
from tests.support import stop_process, wait_until
from tests.tail.held_outage import delivered, held_outage

pytestmark = pytest.mark.slow  # (an agent twice, 2 MB held back behind a frozen peer, a stop's timeout)


@pytest.mark.parametrize("order", ["cut_then_stop", "stop_then_cut"])
def test_a_cut_above_the_read_position_across_a_stop_is_named(tmp_path: Path, order: str) -> None:
    cfg = tmp_path / "cfg.yaml"
    with held_outage(tmp_path, first=100, settle=1.0) as o:
        log, size = o.log, o.size
        position = o.file_status()["position"]
        data = log.read_bytes()
        cut = data.rfind(b"\n", 0, int(size * 0.8)) + 1
        assert position < cut < size, (position, cut, size)
        if order == "cut_then_stop":
            os.truncate(log, cut)
            time.sleep(0.3)
            stop_process(o.agent, 60)
        else:
            stop_process(o.agent, 60)
            os.truncate(log, cut)
        o.agent = run_agent(cfg, o.journal)
        time.sleep(1.0)
        write_lines(log, "a", 30000, 10)
        time.sleep(2.0)
        o.peer.frozen.clear()
        wait_until(lambda: {("a", n) for n in range(30001, 30010)} <= delivered(o.peer), 180, "the lines after the cut")
        time.sleep(3.0)  # a late warning, if any
        losses = metric_value(o.http, "shipper_losses_total")
    journal = o.journal.read_text()
    missing = {("a", n) for n in range(20100)} - delivered(o.peer)
    assert missing, "every line was delivered: the premise (lines cut away unread) did not occur"
    named = [ln for ln in journal.splitlines() if "data lost" in ln and "app.log" in ln]
    assert named, (  # (at the stop or at the start: the stopped process's count is gone with it)
        f"{len(missing)} lines cut away unread (from {min(missing)}); counted {losses}; "
        f"said: {[ln.split('msg=')[1][:160] for ln in journal.splitlines() if 'lost' in ln or 'truncat' in ln]}")
