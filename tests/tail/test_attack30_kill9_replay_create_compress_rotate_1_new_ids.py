"""Attack 30 (issue 21, examiner exam30b): a kill -9 replay after logrotate `create` + `compress` with `rotate 1` (one
backup kept) while the agent is down is read back under new ids.

README, "Known limits": batches delivered and not committed at a kill -9 are repeated at the restart, and a tier
deduplicating by the stable id drops them ("Elasticsearch absorbs them as 409s"). tail30's a357de8 (session 30) made
that hold for `create` + `compress`: the new live file the running agent's rotation made, saved empty (a
placeholder), its 30 lines delivered and not committed, rotated and compressed while the agent is down, has its
backup named after it — "the one rotation number below the content before it (the one its cut ended, else the
family's newest)". With `rotate 1` (a large log keeping a single backup: common) the rotation while down deletes
the content before it (app.log.1.gz, lines 0-99, read and committed) as it compresses the placeholder's content into
app.log.1.gz: the restarted agent says "data possibly lost … app.log, which was empty when last seen and was rotated
away … its lines are in the rotated files read from their start" and reads app.log.1.gz under new ids: the 30 lines
are shipped twice under two ids, which no tier can drop, and no repeat is named.

Found by hand: `rotate 1` 3 of 3 (30 of 30 lines under two ids); `rotate 2` and `rotate 3` keep the ids (1 of 1
each, and the session's own test), and so does plain `create` with `rotate 1` (the backup is the same inode). In this test 2 of 2.
"""
from __future__ import annotations

import pytest

from tests.tail.kill9_replay import repeat_named, replay_after_rotations_while_down


@pytest.mark.slow
def test_kill9_replay_create_compress_rotate_1_keeps_its_ids(tmp_path):
    new_ids, journal = replay_after_rotations_while_down(tmp_path, "create\nrotate 1\ncompress", 1)
    assert sorted(p.name for p in (tmp_path / "logs").iterdir()) == ["app.log", "app.log.1.gz"]
    assert not new_ids or repeat_named(journal), (f"{len(new_ids)} lines ({new_ids[0]}..{new_ids[-1]}) shipped twice "
                                                   "under two ids, no repeat named")
