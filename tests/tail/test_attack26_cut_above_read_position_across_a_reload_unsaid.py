"""Attack 26 (exam26c, issue 13's cut above the read position): the output down, the reader held back in a growing
log, a look has seen it 1,998,890 bytes long (`/status` says so); the log is cut in place to a size above the read
position (`truncate -s`, a tool trimming a log to a size limit during the outage), and a reload that restarts the file
source (SIGHUP after a change to its `tags`) comes before the next read — the cut before the reload or after it.
3,998 lines cut away unread, nothing said (no "data lost", no "truncated"), `shipper_losses` 0. The same cut without
the reload is named and counted (tests/tail/test_attack25_cut_above_read_position_silent.py); so it is with a reload
that changes nothing ("reloaded: nothing changed": the source not restarted).

docs/operations.md ("copytruncate loses lines"): "A log cut in place to a size still above what was read … after a
look saw it longer — the agent looks at its files' sizes about once a second while an output holds its reader back,
and at each `/status` — is `data lost: N bytes or more of app.log were cut away unread …` (counted)". The looks die
with the source the reload stops; the restarted source reads on from its checkpoint as if the log had only grown.
Found by hand 3 of 3 (cut then reload; reload then cut 0.5 s later; reload then cut 3 s later, inside the restart's
wait for the batches in flight), again 2 of 2 in this file.
"""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from tests.e2e.fluentd_agent import metric_value, write_config, write_lines
from tests.support import wait_until
from tests.tail.held_outage import delivered, held_outage

pytestmark = pytest.mark.slow  # (an agent, 2 MB held back behind a frozen peer, a reload's wait)


@pytest.mark.parametrize("order", ["cut_then_reload", "reload_then_cut"])
def test_a_cut_above_the_read_position_across_a_reload_is_named(tmp_path: Path, order: str) -> None:
    with held_outage(tmp_path, first=100, settle=1.0) as o:
        log, size = o.log, o.size

        def reload() -> None:
            write_config(tmp_path, o.http, [log], [("fwd", o.peer.port)], tags=["reloaded"])  # the source restarts
            o.agent.send_signal(signal.SIGHUP)

        position = o.file_status()["position"]
        data = log.read_bytes()
        cut = data.rfind(b"\n", 0, int(size * 0.8)) + 1
        assert position < cut < size, (position, cut, size)
        if order == "cut_then_reload":
            os.truncate(log, cut)
            time.sleep(0.3)
            reload()
        else:
            reload()
            time.sleep(0.5)
            os.truncate(log, cut)
        wait_until(lambda: "msg=reloaded" in o.journal.read_text(), 60, "the reload done")
        time.sleep(1.0)
        write_lines(log, "a", 30000, 10)
        time.sleep(2.0)
        o.peer.frozen.clear()
        wait_until(lambda: {("a", n) for n in range(30001, 30010)} <= delivered(o.peer), 180, "the lines after the cut")
        time.sleep(3.0)  # a late warning, if any
        losses = metric_value(o.http, "shipper_losses_total")
    journal = o.journal.read_text()
    assert "sources_restarted=app" in journal, "the premise: the reload restarted the source"
    missing = {("a", n) for n in range(20100)} - delivered(o.peer)
    assert missing, "every line was delivered: the premise (lines cut away unread) did not occur"
    named = [ln for ln in journal.splitlines() if "data lost" in ln and "app.log" in ln]
    assert named and (losses or 0) >= 1, (
        f"{len(missing)} lines cut away unread (from {min(missing)}); counted {losses}; "
        f"said: {[ln.split('msg=')[1][:160] for ln in journal.splitlines() if 'lost' in ln or 'truncat' in ln]}")
