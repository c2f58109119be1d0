"""Black-box attack 12 (operator): a scrub job removes a leaked secret from the rotated backup with `sed -i` and the
rotation runs right after it (a logrotate `prerotate` script that scrubs, or the scrub and the rotation in one cron
run), the agent running all along.

Found (by hand 3/3 with the rotation at once after the edit, /tmp/af12/ewr.py VAR=bk_mid_rot GAP=0): the edited
backup, now app.log.2, is read from its start as a new file: its 999 lines, all delivered before, are shipped a
second time and nothing is said (no warning, not even at info). With 1.5 s between the edit and the rotation (a scan
sees the edited copy at app.log.1 first) it holds: read on, the edit warned, nothing repeated. Fixed (session 15):
copies.edited_copy took a new file at the deleted file's own name only; it takes one at a rotated name of its family
too (the live log edited then rotated at once was read again whole the same way: the second test). Related:
test_attack12_backup_edited_while_stopped (the same edit during a stop).

Promised: docs/operations.md "A live log trimmed or edited in place": a file renamed over the log by `sed -i` is
read on from where the agent was in the edited copy, warned; "The same holds for a rotated backup (`sed -i
app.log.1`)"; where that cannot be proven the repeat is warned (`… shipped again`). CHANGELOG session 13: "edited
copies are found at any name". README: nothing repeated."""
from __future__ import annotations

import os
import subprocess
import time

import pytest

from tests.tail.attack_agent import Agent, append_numbered, exactly_once

pytestmark = pytest.mark.slow


def test_a_backup_edited_then_rotated_at_once_is_not_shipped_again_unnamed(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    log = logs / "app.log"
    append_numbered(log, 0, 1000)
    agent = Agent(tmp_path, [log])
    agent.start()
    try:
        assert agent.wait_delivered(range(1000), 60), exactly_once(agent.seqs(), range(1000))
        log.rename(logs / "app.log.1")
        append_numbered(log, 1000, 1500)
        assert agent.wait_delivered(range(1500), 60), exactly_once(agent.seqs(), range(1500))
        time.sleep(2)  # idle: the scrub job comes later
        subprocess.run(["sed", "-i", '/"seq": 500,/d', str(logs / "app.log.1")], check=True)
        os.rename(logs / "app.log.1", logs / "app.log.2")  # the rotation, right after the scrub
        log.rename(logs / "app.log.1")
        append_numbered(log, 1500, 1600)
        assert agent.wait_delivered(range(1500, 1600), 60), exactly_once(agent.seqs(), range(1600))
        agent.get("/status")  # one more round trip: repeats written with the last new lines show too
        time.sleep(1)
    finally:
        agent.stop()
    journal = agent.errors()
    wrong = exactly_once(agent.seqs(), range(1600))
    assert not wrong or "shipped again" in journal or "re-read" in journal, (
        f"{wrong}, no repeat named; journal: {journal[-1500:]}")


def test_the_live_log_edited_then_rotated_at_once_is_placed(tmp_path):
    """The same for the live log: `sed -i app.log` and a rotation before the agent's next scan (the writer reopens)."""
    logs = tmp_path / "logs"
    logs.mkdir()
    log = logs / "app.log"
    append_numbered(log, 0, 1000)
    agent = Agent(tmp_path, [log])
    agent.start()
    try:
        assert agent.wait_delivered(range(1000), 60), exactly_once(agent.seqs(), range(1000))
        subprocess.run(["sed", "-i", '/"seq": 500,/d', str(log)], check=True)
        log.rename(logs / "app.log.1")
        append_numbered(log, 1000, 1100)
        assert agent.wait_delivered(range(1000, 1100), 60), exactly_once(agent.seqs(), range(1100))
        agent.get("/status")
        time.sleep(1)
    finally:
        agent.stop()
    assert exactly_once(agent.seqs(), range(1100)) == "", agent.errors()[-1500:]
    assert "app.log.1 is an edited copy of the file it replaced" in agent.errors(), agent.errors()[-1500:]
