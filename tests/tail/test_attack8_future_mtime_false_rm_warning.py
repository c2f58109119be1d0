"""Black-box attack 8 (issue 21's held-out checks, played by an examiner): the writer's clock is ahead of the
agent's. On a share whose server's clock runs ahead (NFS, SMB), or for a writer on another host, every
file's mtime is in the future as the agent's host sees it; here a minute or an hour ahead (`os.utime`
after each write, as the server would stamp it; no faketime on this machine).

An ordinary Log4j-style rotation: `app.log` renamed to `app.log.1`, a new `app.log`; the agent reads both
to their end; the rotation's deletion of the oldest backup removes `app.log.1` (closed by its writer long
before).

Promise (issue 21: every loss message names the real cause; design.md: a deleted file "written to after
its deletion (its mtime caught up with the unlink's ctime: `rm` of a live log whose writer keeps it open)"
is the only such case): nothing was lost, so nothing is warned.

What happens (deterministic: 4 of 4 runs, 60 s and 3,600 s ahead; none with the clocks equal or the
writer's an hour behind): "data possibly lost: …/app.log.1 was deleted while its writer kept it open and
wrote on (`rm` of a live log?); let go after … idle: what its writer writes to it from now on is in no file
the agent can reach (restart the writer, or make it reopen its log …)" — an operator is told to restart a
writer that did nothing wrong, at every rotation."""
from __future__ import annotations

import os
import time

import pytest

from tests.tail.attack_agent import Agent, append_numbered, exactly_once

pytestmark = pytest.mark.slow


def stamp_ahead(path, seconds: float) -> None:
    t = time.time() + seconds
    os.utime(path, (t, t))


@pytest.mark.parametrize("ahead", [60, 3600])
def test_writer_clock_ahead_gives_no_false_rm_warning_at_rotation(tmp_path, ahead):
    logs = tmp_path / "logs"
    logs.mkdir()
    live = logs / "app.log"
    append_numbered(live, 0, 100)
    stamp_ahead(live, ahead)
    agent = Agent(tmp_path, [f"{logs}/app.log*"], source_extra="    close_inactive: 0.5")
    agent.start()
    try:
        assert agent.wait_delivered(range(100), timeout=60)
        os.rename(live, logs / "app.log.1")
        append_numbered(live, 100, 200)
        stamp_ahead(live, ahead)
        assert agent.wait_delivered(range(200), timeout=60)
        time.sleep(1)  # app.log.1 read to its end and idle
        os.unlink(logs / "app.log.1")  # the oldest backup deleted by the next rotation
        time.sleep(3)  # close_inactive and a scan or two: a warning is logged by then
    finally:
        agent.stop()
    assert exactly_once(agent.seqs(), range(200)) == ""
    warned = [line for line in agent.errors().splitlines() if "lost" in line]
    assert warned == [], "\n".join(warned)
