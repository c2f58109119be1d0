"""Attack 30 (issue 21, examiner exam30b): a backup by copy (logrotate `copy`, or an operator's `cp` before an
upgrade) among other rotations while the agent is stopped or frozen repeats lines unnamed, or leaves lines on disk
unread.

docs/design.md, issue 21 case 10 (session 29): "A backup the next backup begins with (logrotate `copy`, or an
operator's `cp`, then a copytruncate) holds nothing the next one lacks: it is left alone as a copy". One `copy`
then one `copytruncate` holds (and so do `copy` + `compress` then `copytruncate` + `compress`, `copy` then `create`).
Three rotations with a copy among them do not (lines 0-99 read; each rotation followed by 20 numbered lines):
- `copytruncate`, `copy`, `copytruncate`, the agent frozen (SIGSTOP): lines 100-119 (in app.log.2, the copy, and
  app.log.1, the last copytruncate's copy) are shipped twice, under two ids, with no repeat named; and three
  copytruncate windows are named for two copytruncates (one "between the copy to app.log.2 and the truncation",
  app.log.2 being the `copy`'s backup, which truncated nothing).
- `create`, `copy`, `copytruncate` while the agent is stopped: lines 100-119 shipped twice, the journal silent.
- `copy`, `copytruncate`, `copy` while the agent is stopped: lines 100-119, on disk in app.log.2 (the
  copytruncate's copy), are never shipped; the only word is "data lost: an unknown number of bytes of app.log were
  written between the copy to app.log.3 and the truncation", app.log.3 being the first `copy`'s backup. Fixed by
  tail30's 30e44a8 (landed while this test was written): kept as a regression test.
(Two copies then a copytruncate: tests/tail/test_attack30_two_copies_then_copytruncate_lines_unread.py.)

Found by hand: each 2 of 2; in this test 1 of 1 each. The other way of being down: `create`, `copy`, `copytruncate`
and `copy`, `copytruncate`, `copy` frozen fail alike (1 of 1 each); `copytruncate`, `copy`, `copytruncate` stopped
holds (1 of 1). After a kill -9 with 30 lines not committed, `create`, `copy`, `copytruncate` ships lines under two ids
and `copy`, `copytruncate`, `copy` repeats 30 and loses 20 (1 of 1 each).
"""
from __future__ import annotations

import pytest

from tests.tail.attack_agent import exactly_once
from tests.tail.kill9_replay import repeat_named
from tests.tail.rotations_while_away import rotations_while_away

CT, CP, CR = "copytruncate\nrotate 4", "copy\nrotate 4", "create\nrotate 4"


@pytest.mark.parametrize("rotations, how", [
    ((CT, CP, CT), "frozen"),
    ((CR, CP, CT), "stopped"),
    ((CP, CT, CP), "stopped"),  # fixed by 30e44a8 (the longest plain copy taken), landed as this test was written
], ids=["copytruncate-copy-copytruncate-frozen", "create-copy-copytruncate-stopped", "copy-copytruncate-copy-stopped"])
def test_a_copy_among_rotations_while_down_ships_each_line_on_disk_once(tmp_path, rotations, how):
    seqs, n, journal = rotations_while_away(tmp_path, rotations, how)
    missing = sorted(set(range(n)) - set(seqs))
    repeated = exactly_once(seqs, range(n)) if not missing else ""
    warnings = "\n".join(ln for ln in journal.splitlines() if "level=warning" in ln or "level=error" in ln)
    assert not missing and (not repeated or repeat_named(journal)), (
        f"on disk and never shipped: {missing[:3]}..{missing[-3:]} ({len(missing)}); repeated with no repeat named: "
        f"{repeated}; the journal's warnings:\n{warnings}")
