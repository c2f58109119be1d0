"""Black-box attack 8 (issue 21's held-out checks, played by an examiner): a cleaner and a stop at the same
moment. Per-job audit files sharing a CSV-like header (`jobs/*.log`); the agent has read them to their
end; a cleaner deletes them and, within a few milliseconds, the agent is stopped (SIGTERM: systemd stopping
services while a cleanup job runs, a deploy). Started again, it finds them gone.

Promise (design.md "Which file is which": "A followed file deleted and read to its end is saved as gone at
once (a tombstone across restarts): stopped before it was let go, it is not taken for 'the live file,
rotated away unread' after the restart"; issue 21: every loss message names the real cause): nothing was
lost, so nothing is warned or counted.

What happens (3 of 3 runs with the stop right after the deletions; 0 of 3 with 0.1-2 s between them):
every line was delivered before the stop, yet the restarted agent warns one "data lost: an unknown number
of bytes of …/jobs/job_N.log written after the last read: the file was rotated away before the rest could
be read: deleted (more rotations than backups) …" per deleted file and counts each in `shipper_losses`
(30 for 30 files). At the stop the agent still had every one of them open, read to its end and deleted:
nothing was unread."""
from __future__ import annotations

import re
import time
import urllib.request

import pytest

from tests.tail.attack_agent import Agent, append_numbered, exactly_once

pytestmark = pytest.mark.slow

HEADER = '{"hdr":"time,user,action,object"}\n'
FILES = 10


def losses_counted(agent: Agent) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{agent.port}/metrics", timeout=10) as r:
        text = r.read().decode()
    m = re.search(r'^shipper_losses_total\{source="app"\} ([0-9.e+]+)$', text, re.M)
    return float(m.group(1)) if m else 0.0


def test_files_deleted_just_before_a_stop_are_no_loss_after_the_restart(tmp_path):
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    files = [jobs / f"job_{i}.log" for i in range(FILES)]
    for i, f in enumerate(files):
        f.write_text(HEADER)
        append_numbered(f, i * 20, i * 20 + 20)
    agent = Agent(tmp_path, [f"{jobs}/*.log"])
    agent.start()
    assert agent.wait_delivered(range(FILES * 20), timeout=60)
    time.sleep(1)  # every batch acknowledged and checkpointed, the agent idle
    for f in files:
        f.unlink()  # the cleaner …
    agent.stop()  # … and the stop, at once

    (jobs / "next.log").write_text(HEADER)  # something to follow, so the restart's scan is seen
    agent.start()
    try:
        time.sleep(3)  # a scan or two: a loss is warned by then
        counted = losses_counted(agent)
    finally:
        agent.stop()
    assert exactly_once([s for s in agent.seqs() if s is not None], range(FILES * 20)) == ""
    lost = [line for line in agent.errors().splitlines() if "data lost" in line]
    assert (len(lost), counted) == (0, 0.0), "\n".join(lost[:3])
