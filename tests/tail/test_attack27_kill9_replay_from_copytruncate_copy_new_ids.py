"""Attack 27 (issue 21, examiner exam27a): a kill -9 replay read back from a copytruncate copy gets new event ids.

README, "Known limits": a kill -9 between an output's write and the checkpoint commit repeats those batches on
restart, and a tier deduplicating by the stable id (Elasticsearch `_id`, stdout's or Fluentd's `_shipper_id`) drops
them. That holds when the log is left alone while the agent is down, and when it is renamed and compressed then (the
`.gz` is read on under the content's own name: same ids). It does not when the log is copytruncated meanwhile and the
lines replayed belong to a content the agent met after an earlier copytruncate (the live file's content after its
truncation): the copy holding them is read from its start as a new file, its lines under new ids, so the 30 lines
delivered before the kill are shipped a second time with ids no tier can match, and the journal names no repeat (it
names the copytruncate windows only).

Found by a kill -9 fuzz (a writer without O_APPEND, cp+truncate every 0.5-2.5 s, the agent killed at random: 30 lines
twice with new ids after a kill 0.15 s after a truncation), then made exact here by stopping the agent's checkpoint
writer (SIGSTOP) so that what it delivers is not committed before the kill: 4 of 4 by hand (an O_APPEND writer 3, a
non-appending one 1); with no rotation while down, or with a rename + gzip instead, the replay keeps its ids (2 of 2).
"""
from __future__ import annotations

import os
import shutil

import pytest

from tests.tail.kill9_replay import repeat_named, replay_after_rotations_while_down


@pytest.mark.slow
def test_kill9_replay_from_a_copytruncate_copy_keeps_its_ids(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    live = logs / "app.log"

    def copytruncate() -> None:  # logrotate copytruncate's steps, by hand (rotate 3)
        for i in (2, 1):
            if (logs / f"app.log.{i}").exists():
                os.rename(logs / f"app.log.{i}", logs / f"app.log.{i + 1}")
        shutil.copyfile(live, logs / "app.log.1")
        os.truncate(live, 0)

    # (One while the agent runs, one while it is down: the 30 lines are in app.log.1 then.)
    new_ids, journal = replay_after_rotations_while_down(tmp_path, copytruncate, 1)
    assert not new_ids or repeat_named(journal), (f"{len(new_ids)} lines ({new_ids[0]}..{new_ids[-1]}) shipped twice "
                                                  "under two ids, no repeat named")
