"""Attack 30 (issue 21, examiner exam30b): a kill -9 replay, then the rotation changed from `copytruncate` to `create`
(+ `compress`) while the agent is down: the lines delivered before the kill are read back from the `.gz` under new
ids, silently.

README ("Following files through rotation") says copytruncate can lose lines: "rotate with `create` and have the
writer reopen its file instead". An operator who follows that advice changes the logrotate stanza; the agent had
been killed (kill -9, an OOM kill, a host reset) with batches delivered and not committed (README, "Known limits":
those are repeated at the restart, and a tier deduplicating by the stable id drops them — "Elasticsearch absorbs
them as 409s"). The running agent had seen a copytruncate rotation (`compress`: `app.log.1.gz`); the 30 lines it
delivered after the cut were not committed (its checkpoint writer stopped, as in attack 27 and 29's tests). While it
is down, the first `create` rotation renames the live file (its inode, the content after the cut) to `app.log.1` and
compresses it. The restarted agent reads `app.log.1.gz` from its start under ids of its own: the 30 lines are
shipped twice under two ids, which no tier can drop, and the journal says nothing (not one warning).

docs/design.md, issue 21 case 10, names the content after a cut found through its copies "at the scan that finds the
live file cut in place (same inode and generation, other bytes)": here that inode is at no name (renamed and
compressed by the `create` rotation), and its content, whose place in the chain the copy of what was read
(`app.log.2.gz`) and the rotation numbers show, gets a new name. Without `compress` (the content after the cut is
then the same inode at `app.log.1`) the ids are kept (1 of 1); with `delaycompress`, one `create` rotation while down
keeps them (1 of 1), two lose them (1 of 1: the content after the cut is `app.log.3.gz`).

Found by hand: `compress` 2 of 2 (30 of 30 lines under two ids), `compress` + `delaycompress` with two `create`
rotations while down 1 of 1 (30 of 30); in this test 1 of 1 each.
"""
from __future__ import annotations

import pytest

from tests.tail.kill9_replay import repeat_named, replay_after_rotations_while_down


@pytest.mark.slow
@pytest.mark.parametrize("running, while_down", [
    ("copytruncate\nrotate 3\ncompress", ("create\nrotate 3\ncompress",)),
    ("copytruncate\nrotate 3\ncompress\ndelaycompress", ("create\nrotate 3\ncompress\ndelaycompress",) * 2),
], ids=["compress", "delaycompress-two-rotations"])
def test_kill9_replay_after_copytruncate_changed_to_create_keeps_its_ids(tmp_path, running, while_down):
    new_ids, journal = replay_after_rotations_while_down(tmp_path, running, len(while_down), while_down=while_down)
    assert any(p.name.endswith(".gz") for p in (tmp_path / "logs").iterdir())
    assert not new_ids or repeat_named(journal), (f"{len(new_ids)} lines ({new_ids[0]}..{new_ids[-1]}) shipped twice "
                                                  "under two ids, no repeat named")
