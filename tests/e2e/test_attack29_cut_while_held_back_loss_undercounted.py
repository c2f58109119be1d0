"""Attack 29 (exam29a), on e66bbf1: a log cut in place (`truncate -s 0`, `: > app.log`) while the output holds the
reader back. stdout into a pipe whose reader paused (the pipe full: backpressure), 200,000 lines (14.9 MB) appended
to the followed log by a busy writer over a second or two; the agent reads ~1-1.7 MB and waits. For 4-8 s `/status`
shows the file at position 923,961 of 14,888,971 bytes (lag 13.9 MB) — the agent knows how much it has not read. Then
the log is emptied and the reader reads again: 22,645 of 200,010 lines were shipped, 13.2 MB were never read, and the
journal says `data lost: 357716 bytes or more of …/a.log were not read: the file was truncated in place (cut back to a
size) …`, shipper_bytes_lost_total 357716 — a small part of the loss, the size an early look saw while the writer was
still writing (read offset 1,663,961 + 357,716 = 2.0 MB), though later looks (docs/operations.md: the agent "looks at
its files' sizes about once a second while an output holds its reader back, and at each `/status`") saw the whole
file. By hand 272,246 / 557,146 / 357,716 / 36,186 / 540,866 / 1,552,816 / 325,452 bytes counted for ~13 MB lost (7
runs, 3 with /status read); in the test 1,421,608 counted for 13,025,506 never read. Appended at once (before the
agent's first look), the same cut is counted whole (13,864,000): only a file still growing at the first look is
undercounted. What should hold: a loss cut away after the agent saw the file's size is counted at least as the last
size it saw less what it read (or named a loss of unknown size), not as the first size it saw."""
from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tests.held_back import app_metric, append_busily, drain, followed_file, held_back_config, padded, read_lines
from tests.journal_sinks import SHIPPER
from tests.support import read_steady, stop_process, wait

pytestmark = pytest.mark.slow  # (14 MB written and cut, seconds of waits)


@pytest.mark.xfail(strict=False, reason="since the lead's fix (the cut's loss counted from the largest size a look saw, "
                   "not the last scan's) 3 of 4 runs count the whole 13 MB; 1 of 4 counted 3.1 MB: a look's size that "
                   "does not reach the truncation's count in some interleaving, cause not found (plain xfail: it "
                   "depends on timing)")
def test_a_cut_while_held_back_is_counted_as_the_size_the_agent_saw(tmp_path: Path) -> None:
    cfg, log, port = held_back_config(tmp_path)
    first, later = log.read_text(), padded(200_000)
    read_end, write_end = os.pipe()
    err = tmp_path / "err.log"
    with open(err, "wb") as e:
        agent = subprocess.Popen([SHIPPER, "run", "-c", str(cfg)], stdout=write_end, stderr=e)
    os.close(write_end)
    shipped = bytearray()
    try:
        read_lines(read_end, shipped, 10)
        append_busily(log, later)  # as a busy writer appends: 8 KiB writes over some 4 s, the agent held back meanwhile
        size = len(first) + len(later)

        # the agent held back (the pipe unread), and showing the whole size it has not read
        looked = read_steady(lambda: followed_file(port),
                             lambda f: f["size"] == size and 100_000 < f["position"] and f["lag"] > 10_000_000, 60)
        assert looked["size"] == size and 100_000 < looked["position"] and looked["lag"] > 10_000_000, looked
        time.sleep(3)  # several of the agent's once-a-second looks, and /status's, see the whole size
        assert followed_file(port) == looked
        os.truncate(log, 0)
        time.sleep(4)  # the reader of stdout comes back a few seconds later
        reader = threading.Thread(target=lambda: drain(read_end, shipped), daemon=True)
        reader.start()
        assert wait(lambda: "data lost" in err.read_text(), 60), err.read_text()[-2000:]
        assert wait(lambda: app_metric(port, "shipper_bytes_lost_total") > 0, 30)
        counted = app_metric(port, "shipper_bytes_lost_total")
        lines = shipped.count(b"\n")
        never_read = size - sum(len(x) + 1 for x in (first + later).splitlines()[:lines])  # shipped in order
        assert counted >= 0.9 * never_read, (
            f"{lines} of 200010 lines shipped, {never_read} bytes never read; /status had shown lag {looked['lag']}; "
            f"shipper_bytes_lost_total {counted:.0f}: {[x for x in err.read_text().splitlines() if 'lost' in x]}")
    finally:
        stop_process(agent)
        os.close(read_end)
