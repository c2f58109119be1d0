"""Black-box attack 11 (operator): a leaked secret scrubbed from the live log with `sed -i` a few seconds after the
agent read it (the usual case: the operator notices, opens a shell, edits), the agent running all along.

Found (by hand: idle 2, 3, 4 and 10 s before the edit, each 999 of 1,000 lines shipped again; idle 0 or 1 s: read
on from the edit, warned, nothing repeated; a writer holding the file open or not, close_inactive 1 or 300: the
same): the edited copy is read from its start as a new file: every line it holds, all already delivered, is
shipped a second time, and nothing says so (no warning, shipper_losses 0). test_attack10_edited_in_place_repeats
edits right after the read, which holds.

Promised: docs/operations.md "A live log trimmed or edited in place": a file renamed over the live log by
`sed -i` is read on from where the agent was in the edited copy, with a warning naming the edit; when that cannot
be proven, the repeat is warned with its size ("… shipped again"). Only an edit made while the agent was stopped is
repeated without a word. README: nothing repeated."""
from __future__ import annotations

import subprocess
import time

import pytest

from tests.tail.attack_agent import Agent, append_numbered, exactly_once

pytestmark = pytest.mark.slow

IDLE = 5.0  # seconds the log stays untouched between the agent's last read and the edit (a part of the scenario)


@pytest.mark.parametrize("writer_holds", [False, True], ids=["no-writer", "writer-holds-fd"])
def test_a_live_log_edited_after_a_few_idle_seconds_is_not_shipped_again_unnamed(tmp_path, writer_holds):
    log = tmp_path / "app.log"
    append_numbered(log, 0, 1000)
    holder = open(log, "a") if writer_holds else None  # a writer that keeps its descriptor, writing nothing
    agent = Agent(tmp_path, [log])
    agent.start()
    try:
        assert agent.wait_delivered(range(1000), 60), exactly_once(agent.seqs(), range(1000))
        time.sleep(IDLE)
        subprocess.run(["sed", "-i", '/"seq": 500,/d', str(log)], check=True)
        append_numbered(log, 1000, 1100)  # the writer's next lines, into the edited file (it reopens by name)
        assert agent.wait_delivered(range(1000, 1100), 60), exactly_once(agent.seqs(), range(1100))
        agent.get("/status")  # one more round trip: repeats written right after the last new line show too
    finally:
        agent.stop()
        if holder:
            holder.close()
    journal = agent.errors()
    wrong = exactly_once(agent.seqs(), range(1100))
    assert not wrong or "shipped again" in journal, f"{wrong}, no repeat named; journal: {journal[-1500:]}"
