"""Attack 29 (issue 21, examiner exam29b): `shred` of a backup the restarted agent is catching up on still ships
random bytes as records, now and then.

Session 28 made a rotated file overwritten in place under the reader a named loss, "nothing of them is shipped"
(docs/design.md, "Overwritten in place"; tests/tail/test_attack27_shredded_backup_read_as_records.py, an output
outage). Here the agent is stopped while 200,000 lines (9 MB) are written and the log renamed to `app.log.1`; it is
started again and, while it catches up on `app.log.1`, `shred -n 30 -u app.log.1` overwrites it. The loss is named and
counted ("… were overwritten in place before they were read … nothing of them is shipped"), but in 2 of 10 runs by hand
(1 of 7 with 3 passes, 1 of 3 with 30) 1-4 records of shred's random bytes went out as `pipeline_error` events whose
`event.original` was never a line of the log: altered audit data. A guess from outside: a read that shred's pass
overtakes part-way, checked by the bytes before its end, which the pass has not reached yet. Whether a pass lands
inside a read depends on the timing: a plain xfail (it passes most runs).
"""
from __future__ import annotations

import json
import subprocess
import time

import pytest

from tests.tail.attack_agent import Agent, append_numbered

LINES = 200_000


@pytest.mark.slow
@pytest.mark.xfail(reason="exam29b: shred -n 30 -u of a backup the restarted agent catches up on: 1-4 records of "
                   "random bytes shipped as pipeline_error events in 2 of 10 runs by hand (timing: a plain xfail)")
def test_a_backup_shredded_during_the_catch_up_ships_no_junk(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    live = logs / "app.log"
    agent = Agent(tmp_path, [live])
    try:
        append_numbered(live, 0, 10)
        agent.start()
        assert agent.wait_delivered(range(10)), agent.errors()
        time.sleep(1.5)  # committed
        agent.stop()
        for lo in range(10, LINES, 20_000):
            append_numbered(live, lo, min(LINES, lo + 20_000))
        live.rename(logs / "app.log.1")
        append_numbered(live, LINES, LINES + 10)
        agent.start()
        time.sleep(0.3)  # catching up on app.log.1
        subprocess.run(["shred", "-n", "30", "-u", str(logs / "app.log.1")], check=True, timeout=120)
        time.sleep(10)  # whatever else it reads or says
    finally:
        if agent.proc is not None and agent.proc.poll() is None:
            agent.stop()
    junk = [json.loads(line) for line in (tmp_path / "out2.jsonl").read_bytes().splitlines() if b'"seq"' not in line]
    assert agent.errors().count("overwritten in place") or agent.lines() >= LINES + 20, agent.errors()[-2000:]
    assert not junk, f"{len(junk)} records of shred's bytes shipped, e.g. {junk[0]['event'].get('original', '')[:80]!r}"
