"""Attack 25 (exam25d, issue 13): the output down, the reader held back in a growing log; the log is then cut in place
to a size *above* the position the reader had reached, but below the size the agent had already seen (`truncate -s`,
a tool trimming a log to a size limit during the outage), and written on. The lines between the cut and the size seen
are in no file: 3,998 of 20,100 lines lost, and the journal says nothing (no "truncated", no "data lost"),
`shipper_losses` 0. Cut mid-line, the head of the cut line is glued to the next line written: one event shipped as a
`pipeline_error` whose `event.original` is two lines' pieces (an altered event), again without a word.

docs/operations.md ("copytruncate loses lines"): "Cut after a look saw it grown past what was read, it is `data lost:
N bytes or more of app.log … truncated in place …` (counted)"; README: "Truncation in place is detected … Loss is loud".
Here a look saw it grown (`/status` listed the file with `size` 1,998,890 and `position` 97,890); the cut to 1,599,090
left the file longer than the position, so the agent read on as if it had only grown. Found by hand 3 of 3 (twice at a
line boundary, once mid-line), the Fluentd peer frozen.
Fixed (shipper/tail/looks.py): a look at the file's size between reads (the file source's while ctx.emit holds it, the
watcher's, /status's), its last byte data, that a later read ends short of is a cut above the read position, named.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.e2e.fluentd_agent import metric_value, write_lines
from tests.support import wait_until
from tests.tail.held_outage import delivered, held_outage

pytestmark = pytest.mark.slow  # (an agent, 2 MB held back behind a frozen peer: handed out first)


@pytest.mark.parametrize("where", ["line_boundary", "mid_line"])
def test_a_cut_above_the_read_position_is_a_named_loss(tmp_path: Path, where: str) -> None:
    with held_outage(tmp_path, first=100, settle=1.0) as o:
        log, size = o.log, o.size
        position = o.file_status()["position"]
        data = log.read_bytes()
        cut = int(size * 0.8)
        if where == "line_boundary":
            cut = data.rfind(b"\n", 0, cut) + 1
        assert position < cut < size, (position, cut, size)
        os.truncate(log, cut)  # trimmed during the outage, then written on
        time.sleep(1.0)
        write_lines(log, "a", 30000, 10)
        time.sleep(0.5)
        o.peer.frozen.clear()
        wait_until(lambda: {("a", n) for n in range(30001, 30010)} <= delivered(o.peer), 120, "the lines after the cut")
        time.sleep(3.0)  # a late warning, if any
        losses = metric_value(o.http, "shipper_losses_total")
    missing = {("a", n) for n in range(20100)} - delivered(o.peer)
    assert missing, "every line was delivered: the premise (lines cut away unread) did not occur"
    journal = o.journal.read_text()
    named = [ln for ln in journal.splitlines() if "data lost" in ln and "app.log" in ln]
    assert named and (losses or 0) >= 1, (
        f"{len(missing)} lines cut away unread (from {min(missing)}); counted {losses}; "
        f"said: {[ln.split('msg=')[1][:160] for ln in journal.splitlines() if 'lost' in ln or 'truncat' in ln]}")
