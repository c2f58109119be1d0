"""Black-box attack 9 (issue 21's held-out checks, played by an examiner): a quiet audit log rotated by the
real logrotate with `compress` and its default `ifempty` while the agent runs. The live file holds lines;
logrotate rotates it (app.log.1.gz), makes an empty app.log, and rotates again before anything was written
(a quiet day): the empty file becomes an empty app.log.1.gz. Nothing is deleted (`rotate 5`).

Promise (docs/design.md "Which file is which": "a complete `.gz` with no line (an empty log rotated and
compressed, logrotate's default `ifempty`)? no copy of anything, nothing lost when it is deleted"; README:
loss is loud "when data was deleted or truncated before it could be read"; issue 21: every loss message
names the real cause): every line delivered once, no loss warned, `shipper_losses` 0.

What happens (by hand 8 of 8 runs, 1-3 s between rotations, with and without a header line; `create`
without `compress`, or `delaycompress`, say nothing): each rotation of the empty live file is warned
"data lost: an unknown number of bytes of …/app.log written after the last read: the file was rotated
away and deleted unseen (more rotations than backups)" and counted in `shipper_losses` (1 for two
rotations, 2 for three), though every line was delivered and no file was deleted. Fixed: a file held
open with no byte left to read is no loss when deleted (one that went through the live name unseen
meanwhile is the holder's escape, counted there)."""
from __future__ import annotations

import time

import pytest

from tests.tail.attack_agent import Agent, append_numbered, exactly_once, logrotate_of

pytestmark = pytest.mark.slow


def test_an_empty_live_file_compressed_by_logrotate_is_no_loss(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    live = logs / "app.log"
    logrotate = logrotate_of(tmp_path, live, "rotate 5\ncreate\ncompress\nmissingok\nifempty", settle=1)
    append_numbered(live, 0, 100)
    agent = Agent(tmp_path, [live])
    agent.start()
    try:
        assert agent.wait_delivered(range(100))
        for _ in range(3):  # the first rotation moves the lines, the next two an empty app.log
            logrotate()
        assert sorted(p.name for p in logs.iterdir()) == ["app.log", "app.log.1.gz", "app.log.2.gz", "app.log.3.gz"]
        append_numbered(live, 100, 101)  # the live file goes on
        assert agent.wait_delivered(range(101))
        time.sleep(2)  # a loss is warned by then
        counted = agent.losses_counted()
    finally:
        agent.stop()
    assert exactly_once([s for s in agent.seqs() if s is not None], range(101)) == ""
    lost = [line for line in agent.errors().splitlines() if "lost" in line]
    assert (lost, counted) == ([], 0.0), "\n".join(lost[:3])
