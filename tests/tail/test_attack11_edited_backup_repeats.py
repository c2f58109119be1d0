"""Black-box attack 11 (operator): a leaked secret scrubbed from a log's rotated backup — `sed -i` on `app.log.1`
(or on `app.log*`, the live file and its backups together), while the agent runs and has read both files whole.

Found (by hand 4 of 4: `paths: [app.log]` and `[app.log*]`, the backup alone or with the live file): the new
file sed renamed over `app.log.1` is read from its start as a new file: its 100 lines, every one already delivered,
are shipped a second time, and nothing names that repeat (the live file's edit, when made too, is warned and not
repeated: only the backup's is silent).

Promised: README "without losing or repeating a line across rotations and restarts"; docs/operations.md "A live
log trimmed or edited in place": a file replaced by an edited copy is read on from where the agent was, or the
repeat is warned with its size ("… shipped again"); only an edit made while the agent was stopped is repeated
without a word. DEVELOPERS.md: nothing repeated silently."""
from __future__ import annotations

import os
import subprocess
import time

import pytest

from tests.tail.attack_agent import Agent, append_numbered, exactly_once


def backup_replaced_and_looked_at(agent: Agent, backup: str, old_id: str, timeout: float = 60.0) -> bool:
    """Until /status lists `backup` as another file than `old_id`, read to its end."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        files = ((agent.get("/status")[1].get("sources", {}).get("app", {}).get("status") or {}).get("files") or [])
        for f in files:
            if f["path"] == backup and f["file_id"] != old_id and f["position"] == f["size"]:
                return True
        time.sleep(0.2)
    return False


@pytest.mark.parametrize("glob", [False, True], ids=["live-path", "glob"])
def test_a_rotated_backup_edited_in_place_is_not_shipped_again_unnamed(tmp_path, glob):
    log = tmp_path / "app.log"
    backup = str(log) + ".1"
    append_numbered(log, 0, 100)
    agent = Agent(tmp_path, [str(log) + ("*" if glob else "")])
    agent.start()
    try:
        assert agent.wait_delivered(range(100), 60), exactly_once(agent.seqs(), range(100))
        os.rename(log, backup)  # a rename rotation; the writer's next line makes a new live file
        append_numbered(log, 100, 200)
        assert agent.wait_delivered(range(200), 60), exactly_once(agent.seqs(), range(200))
        files = agent.get("/status")[1]["sources"]["app"]["status"]["files"]
        old_id = next(f["file_id"] for f in files if f["path"] == backup)
        # scrub the secret written in line 50 of the backup (sed writes a copy and renames it over the backup)
        subprocess.run(["sed", "-i", 's/"seq": 50, "msg": "x*"/"seq": 50, "msg": "***"/', backup], check=True)
        append_numbered(log, 200, 300)
        assert agent.wait_delivered(range(300), 60), exactly_once(agent.seqs(), range(300))
        assert backup_replaced_and_looked_at(agent, backup, old_id), agent.get("/status")
        agent.get("/status")  # one more round trip: anything written right after shows too
    finally:
        agent.stop()
    journal = agent.errors()
    repeated = exactly_once(agent.seqs(), range(300))
    named = "app.log.1" in journal and ("shipped again" in journal or "edited copy" in journal)
    assert not repeated or named, f"{repeated}, and no warning names it; journal: {journal[-1500:]}"
