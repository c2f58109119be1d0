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

import pytest

from tests.tail.attack_agent import exactly_once
from tests.tail.rotations_while_away import rotations_while_away


@pytest.mark.parametrize("how", ["stopped", "frozen"])
def test_two_copies_then_a_copytruncate_lose_no_line_on_disk(tmp_path, how):
    seqs, n, journal = rotations_while_away(tmp_path, ("copy\nrotate 4", "copy\nrotate 4", "copytruncate\nrotate 4"), how)
    warnings = "\n".join(ln for ln in journal.splitlines() if "level=warning" in ln or "level=error" in ln)
    wrong = exactly_once(seqs, range(n))
    assert not wrong, f"every line is on disk, yet: {wrong}; the journal's warnings:\n{warnings}"
