"""Attack 25 (issue 21, examiner exam25i): copytruncate rotations while the agent is stopped name one window only,
when the writer does what every appending writer does after a truncation: goes on with its next line.

tests/tail/test_attack14_copytruncates_while_stopped.py has the writer write the header again after each
truncation; a writer holding its file open with O_APPEND (Log4j's FileAppender, `prog >> app.log`) does not know
it was truncated and writes its next line, no header. Then, of two (three) copytruncate rotations while the agent
was stopped, the start names only the window of the copy that holds what was read (`… between the copy to
app.log.2 …`); the later rotation's window, whose lines are in no file, is not named: 5 lines (10 with three
rotations) lost without a word, `shipper_losses` 1. The same with a log that has no header at all. Found with the
real logrotate (`copytruncate`, `rotate 5`, a writer appending every 10 ms, the agent killed (-9) or stopped at
random moments): 2 of 2 starts after two rotations while stopped named one window; one of the unnamed windows had
lost 6 lines (3079-3084). 4 of 4 runs of the stepped script below by hand.

What should happen (docs/operations.md, "copytruncate loses lines"): the start names every window it can see —
the one whose copy holds what was read, and each backup made after it — so every lost line is inside a named loss.
(Session 26: the content found in its copy after a cut that left its inode with no head of its own — the writer's next
lines — counts as found cut in place for copies.later_copy_of_cut, as a cut that left the head does.)
"""
from __future__ import annotations

import re
import shutil

import pytest

from tests.tail.attack14_agent import Agent, lines
from tests.tail.test_attack14_copytruncates_while_stopped import shift_backups

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("header", ["#Fields: seq pad\n", ""], ids=["header", "no-header"])
@pytest.mark.parametrize("rotations,compress", [(2, False), (3, True)])
def test_every_copytruncate_window_while_stopped_is_named(tmp_path, header, rotations, compress):
    agent = Agent(tmp_path, f"    paths: [{tmp_path}/logs/app.log]\n")
    logs = tmp_path / "logs"
    live = logs / "app.log"
    live.write_text(header + lines(0, 50))
    try:
        agent.start()
        agent.wait(lambda: all(n in agent.seqs() for n in range(50)), 60, "the first 50 lines")
        assert agent.stop() == 0
        seq, windows = 50, []
        for rotation in range(rotations):
            with open(live, "a") as f:
                f.write(lines(seq, 20))
            seq += 20
            if rotation:
                shift_backups(logs, compress)
            shutil.copyfile(live, logs / "app.log.1")
            with open(live, "a") as f:      # between the copy and the truncation
                f.write(lines(seq, 5))
            windows.append(range(seq, seq + 5))
            seq += 5
            with open(live, "r+") as f:
                f.truncate(0)
            with open(live, "a") as f:      # the writer's next lines: it does not know of the cut
                f.write(lines(seq, 10))
            seq += 10
        agent.start()
        agent.wait(lambda: seq - 1 in agent.seqs(), 60, "the live file's last line")
        assert agent.stop() == 0
    finally:
        agent.kill()
    delivered = agent.seqs()
    assert [n for n, times in delivered.items() if times > 1] == []
    assert [n for n in range(seq) if n not in delivered] == [n for w in windows for n in w]
    warned = [w for w in agent.warnings() if "between the copy to" in w]
    named = {re.search(r"between the copy to (\S+) and", w).group(1).rsplit("/", 1)[1] for w in warned}
    assert len(warned) == rotations and len(named) == rotations, warned
