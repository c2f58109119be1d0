"""Black-box attack 11 (operator): a live log edited by `sed -i` while the agent is frozen (SIGSTOP: a stalled VM,
a debugger, cgroup freezer) with lines it has not read yet; the writer keeps its descriptor (a logging library)
and appends to the old, now deleted, file after the edit; then the agent is thawed (SIGCONT).

Found (each case 4 of 4 by hand, /tmp/af/a2.py, and with this test):
- a line removed in the part the agent had not read yet: the 100 lines the writer appended to its (deleted) file
  after the edit never arrive, and nothing says so (no warning, no loss counted), exit 0 at the stop;
- a line removed in the part the agent had read: the 1,000 lines it had not read yet are shipped twice; the journal
  names the edit and says "the edit is not shipped", no word of a repeat.

Promised: docs/operations.md "A live log trimmed or edited in place" and docs/design.md case 9: the old file,
deleted, is read on to its end through the descriptor the agent holds; the edited copy is read on from where what
was read ends in it ("nothing of it shipped again"), or the repeat is warned with its size. README: loss is loud,
nothing repeated. Not frozen (the agent having read everything), the same edits hold
(test_attack10_edited_in_place_repeats.py)."""
from __future__ import annotations

import signal
import subprocess

import pytest

from tests.tail.attack_agent import Agent, exactly_once, numbered

pytestmark = pytest.mark.slow

N = 1000


def edited_while_frozen(tmp_path, edit: str) -> tuple[Agent, list]:
    """N lines read; the agent frozen; N more written, `edit` made by sed -i, 100 more written to the writer's old
    descriptor; thawed. Returns the agent (stopped) and what it delivered."""
    log = tmp_path / "app.log"
    with open(log, "a", buffering=1) as writer:
        writer.write("".join(numbered(i) for i in range(N)))
        agent = Agent(tmp_path, [log])
        agent.start()
        try:
            assert agent.wait_delivered(range(N), 60), exactly_once(agent.seqs(), range(N))
            agent.proc.send_signal(signal.SIGSTOP)
            try:
                writer.write("".join(numbered(i) for i in range(N, 2 * N)))  # not read yet
                subprocess.run(["sed", "-i", edit, str(log)], check=True)
                writer.write("".join(numbered(i) for i in range(2 * N, 2 * N + 100)))  # to the old, deleted file
            finally:
                agent.proc.send_signal(signal.SIGCONT)
            agent.wait_delivered(range(2 * N + 100), 20)
            agent.get("/status")  # one more round trip: repeats written right after the last new line show too
        finally:
            agent.stop()
    return agent, agent.seqs()


def test_lines_written_to_the_replaced_file_after_an_edit_while_frozen_are_read(tmp_path):
    agent, seqs = edited_while_frozen(tmp_path, '/"seq": 1500,/d')
    journal = agent.errors()
    after_edit = set(range(2 * N, 2 * N + 100))
    missing = after_edit - set(seqs)
    assert not missing or "data lost" in journal, (
        f"{len(missing)} of the 100 lines written to the replaced file after the edit never arrived, unnamed; "
        f"journal: {journal[-1500:]}")
    assert set(range(N)) <= set(seqs) and not [s for s in after_edit if seqs.count(s) > 1], exactly_once(
        seqs, range(2 * N + 100))


def test_unread_lines_of_a_file_edited_while_frozen_are_shipped_once(tmp_path):
    agent, seqs = edited_while_frozen(tmp_path, '/"seq": 500,/d')
    journal = agent.errors()
    wrong = exactly_once(seqs, range(2 * N + 100))
    assert not wrong or "shipped again" in journal, f"{wrong}, no repeat named; journal: {journal[-1500:]}"
