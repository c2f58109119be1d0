"""Attack 27 (issue 21, examiner exam27a): logrotate `shred` (audit sites use it: the oldest backup is overwritten
with random bytes before it is removed, `shred -u`, `shredcycles` passes) of a rotated log the agent is still
catching up on after an output outage. The agent reads the overwrite passes' random bytes past its offset and ships
them as records: thousands of `pipeline_error` events whose `event.original` is random bytes that were never a line
of the log (4,100 and 4,200 such records in 2 of 2 runs by hand, 4,100 and 4,000 in 2 of 2 of this test: `rotate 1`,
a 30 MB backlog, the shred 1.5 s into the catch-up; 6 with `shredcycles 30` and the shred sooner). The loss is named
afterwards ("truncated in place … N bytes or more"), but the junk went out as audit events: altered data, unnamed.

What should happen: a rotated file overwritten in place under the reader (the bytes before the read offset no longer
those read) is not read on as if it were the log; what it held unread is a named loss. Whether the shred lands while
the agent reads depends on the load: a plain xfail.
"""
from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.fluentd_agent import run_agent, write_config, write_lines
from tests.peers.forward_server import ForwardServer
from tests.support import free_port, stop_process, wait_until

BACKLOG = 300_000  # lines (~100 bytes each) written during the outage


@pytest.mark.slow
@pytest.mark.xfail(reason="load-dependent, open: at load 15 (session 30, the session's first commit's code too) the "
                   "shred lands inside the catch-up's reads and 4,000-4,100 records of random bytes are shipped, 2 of 2 "
                   "(cpu30 saw it 1 of 2); it passed in session 29's quiet full runs. Harvester.overwritten_under "
                   "looks after a read, at a size taken before it: a plain xfail")
def test_a_shredded_backup_is_not_shipped_as_records(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    log = logs / "app.log"
    conf = tmp_path / "lr.conf"
    conf.write_text(f"{log} {{\n rotate 1\n create\n shred\n}}\n")

    def logrotate() -> None:
        subprocess.run(["/usr/sbin/logrotate", "-f", "-s", str(tmp_path / "lr.state"), str(conf)], check=True,
                       timeout=120)

    peer = ForwardServer(port=free_port()).start()
    write_lines(log, "a", 0, 100)
    agent = run_agent(write_config(tmp_path, free_port(), [log], [("fwd", peer.port)]), tmp_path / "agent.err")

    def lines_stored() -> int:
        return sum(1 for _t, _ts, r in list(peer.records) if "src" in (r.get("generic") or {}))

    try:
        wait_until(lambda: lines_stored() >= 100, 60, "the first lines delivered")
        time.sleep(1)
        peer.frozen.set()  # the output down: the reader is held back
        write_lines(log, "a", 100, BACKLOG)
        time.sleep(2)
        logrotate()  # app.log -> app.log.1, most of it unread
        write_lines(log, "b", 0, 100)
        time.sleep(1)
        peer.frozen.clear()  # the agent catches up on app.log.1 ...
        time.sleep(1.5)
        logrotate()  # ... while the next rotation shreds it (by hand: 1.5 s into the catch-up)
        write_lines(log, "c", 0, 100)
        wait_until(lambda: {n for _t, _ts, r in list(peer.records) if (r.get("generic") or {}).get("src") == "c"
                            for n in [r["generic"]["n"]]} >= set(range(100)), 180, "the lines after", every=0.5)
        time.sleep(3)
    finally:
        stop_process(agent, 60)
        peer.stop()
    junk = [r for _t, _ts, r in list(peer.records) if "src" not in (r.get("generic") or {})]
    journal = (tmp_path / "agent.err").read_text()
    assert any("data lost" in ln for ln in journal.splitlines()), "the shredded lines are a named loss"
    assert not junk, f"{len(junk)} records of bytes never written as lines, e.g. {str(junk[0])[:200]}"
