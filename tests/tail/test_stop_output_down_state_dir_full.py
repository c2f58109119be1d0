"""Issue 13 (session 18): a stop with the only output down saves the states of the files this run first read or
found and did not deliver (Tailer.unsaved_states: a file a rotation brought, never read), so that the next start
names their bytes if they are deleted while the agent is stopped. With the state_dir's filesystem full at that stop,
the save fails and one warning says so ("cannot save the state of what this run first read and did not deliver: if it
is deleted before the next start, its loss is not named"), without naming the files or their bytes; and the
checkpoint writer's reserve (checkpoint_db.RESERVE), which a stop gives up for its last commits, is given up only when
a commit failed for want of space during the run (Pipeline.store_full): with the output down nothing was committed,
so nothing failed, and the reserve's space stays unused. The never-read file, deleted while stopped, then goes
without a word at the next start (31,500 bytes of 255,390 lost unnamed, 1 of 1 scratch run and 1 of 1 with
--runxfail). With the stop's `if self.store_full` in Pipeline.stop made always true (scratch), the reserve is given up
and the save fits: 255,390 lost, 255,390 named. Real tmpfs filled, a real agent, a strict Fluentd peer kept down.
Fixed (lead, session 18): the stop gives the reserve up for its own saves too when the writer finds the disk full."""
from __future__ import annotations

import pytest

from tests.fs_faults import fill, small_tmpfs
from tests.tail.attack_agent import append_numbered, numbered
from tests.tail.test_stop_output_down_unread_rotated import FIRST, PER, _rotate, _Run

pytestmark = pytest.mark.slow


def test_a_stop_with_the_output_down_on_a_full_state_dir_leaves_no_deleted_byte_unnamed(tmp_path):
    with small_tmpfs(tmp_path / "state", 8 * 1024) as state:
        run = _Run(tmp_path)
        try:
            append_numbered(run.app, 0, FIRST)
            run.held_back()
            _rotate(run.logs)  # the file a rotation brings while the reader waits: never read
            append_numbered(run.app, FIRST, FIRST + PER)
            filler = fill(state)
            assert run.stop() == 1, run.journal()  # batches undelivered
            filler.unlink()
            written = run.rotations_while_stopped(3, FIRST + PER)  # the first file and the never-read one deleted
            run.restart_up(range(FIRST + PER, written))
            lost, named = run.lost_and_named(written)
        finally:
            run.close()
    assert lost == sum(len(numbered(n)) for n in range(FIRST + PER)), "not the scenario: the two first files lost"
    assert named == lost, f"{lost} bytes lost, {named} named:\n{run.journal()}"
