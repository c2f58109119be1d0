"""Attack 30 (issue 21, examiner exam30b): two backups by copy (logrotate `copy`, or an operator's `cp`), then a
copytruncate, while the agent is stopped or frozen: the lines written after the first copy, on disk in both later
backups, are never read, and the only word is a copytruncate window of unknown size named after the wrong copy.

docs/design.md, issue 21 case 10 (session 29, 10d26eb): "A backup the next backup begins with (logrotate `copy`, or
an operator's `cp`, then a copytruncate) holds nothing the next one lacks: it is left alone as a copy". With one copy
before the copytruncate that holds (every line once, with and without a shared header line, stopped, kill -9 or
SIGSTOP). With two: the agent read lines 0-99 of app.log; while it is down (a SIGTERM stop, a kill -9 with its
checkpoint committed) or frozen (SIGSTOP, a cgroup freeze), `copy` makes app.log.1 (0-99), 20 lines are written,
`copy` again (app.log.2 = 0-99, app.log.1 = 0-119), 20 more, then `copytruncate` (app.log.3 = 0-99, app.log.2 =
0-119, app.log.1 = 0-139, app.log cut), 20 more. The agent ships 0-99 and 140-159: lines 100-139, which are in
app.log.1 and app.log.2, are never shipped, and the journal says only "data lost: an unknown number of bytes of
app.log were written between the copy to app.log.3 and the truncation": app.log.3 was made by `copy`, not by the
copytruncate, and nothing it names is where the lines are.

Found by hand: SIGSTOP 4 of 4 (2 with a shared header line), kill -9 with the checkpoint committed 2 of 2; 40 of 40
lines never shipped each time; in this test (SIGTERM stop, SIGSTOP) 1 of 1 each. One copy then a copytruncate: 0 lost
(4 of 4, same shapes).
"""
from __future__ import annotations

import json
import os
import signal
import time

import pytest

from tests.tail.attack_agent import Agent, exactly_once, logrotate_of


def _lines(lo: int, hi: int) -> bytes:
    return "".join(json.dumps({"seq": i, "pad": "x" * 40}) + "\n" for i in range(lo, hi)).encode()


@pytest.mark.parametrize("how", ["stopped", "frozen"])
def test_two_copies_then_a_copytruncate_lose_no_line_on_disk(tmp_path, how):
    logs = tmp_path / "logs"
    logs.mkdir()
    live = logs / "app.log"

    def write(data: bytes) -> None:
        with open(live, "ab") as f:
            f.write(data)
    agent = Agent(tmp_path, [live])
    try:
        write(_lines(0, 100))
        agent.start()
        assert agent.wait_delivered(range(100)), agent.errors()
        time.sleep(2)  # read and committed
        if how == "stopped":
            agent.stop()
        else:
            os.kill(agent.proc.pid, signal.SIGSTOP)
        n = 100
        for directives in ("copy\nrotate 4", "copy\nrotate 4", "copytruncate\nrotate 4"):
            logrotate_of(tmp_path, live, directives, settle=0.05)()
            write(_lines(n, n + 20))
            n += 20
        if how == "stopped":
            agent.start()
        else:
            os.kill(agent.proc.pid, signal.SIGCONT)
        agent.wait_delivered(range(n), timeout=30)
        time.sleep(3)  # whatever else it reads or says
    finally:
        if agent.proc is not None and agent.proc.poll() is None:
            os.kill(agent.proc.pid, signal.SIGCONT)
            agent.stop()
    on_disk = set()
    for p in logs.iterdir():
        on_disk |= {json.loads(line)["seq"] for line in p.read_bytes().splitlines()}
    assert on_disk == set(range(n))
    journal = "\n".join(ln for ln in agent.errors().splitlines() if "level=warning" in ln or "level=error" in ln)
    wrong = exactly_once(agent.seqs(), range(n))
    assert not wrong, f"every line is on disk, yet: {wrong}; the journal's warnings:\n{journal}"
