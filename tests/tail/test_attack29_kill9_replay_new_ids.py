"""Attack 29 (issue 21, examiner exam29b): a kill -9 replay read back from a *compressed* backup, or from a copy in
logrotate's `olddir`, gets new ids.

README, "Known limits": a kill -9 between an output's write and the checkpoint commit repeats those batches on
restart, and a tier deduplicating by the stable id (Elasticsearch `_id`, stdout's or Fluentd's `_shipper_id`) drops
them. Session 28 made that hold when the log is copytruncated while the agent is down (docs/design.md, issue 21
case 10: "each plain backup made after that copy … is named as the content the inode held next"): the replay read
back from the later copy keeps its ids (tests/tail/test_attack27_kill9_replay_from_copytruncate_copy_new_ids.py).
Only a *plain* backup: with logrotate's `compress` (the copy is `app.log.1.gz` as soon as the rotation ends) or
`compress` + `delaycompress` and two rotations while the agent is down (the copy compressed by the second), the 30
lines delivered before the kill and not committed are read from the `.gz` under new ids: each is shipped twice with
two ids, no tier can drop the repeat, and the restarted agent's journal says nothing at all (it names the copytruncate
windows in the first run only).

The most common setup fails too: `compress` + `delaycompress` and *one* copytruncate while down. The 30 lines are
then in the plain `app.log.1`, but the copy that holds what was committed (the content before the cut the running
agent saw) was compressed by that rotation into `app.log.2.gz`, and the plain copy made after it is read under new
ids all the same.

Found by hand with the real logrotate: `compress` 2 of 2 (30 of 30 lines under two ids), `compress` +
`delaycompress` with one copytruncate while down 2 of 2, with two 1 of 1; without compression the same schedule keeps the ids
(30 lines repeated under the same id, 1 of 1). The commit is held back by stopping the agent's checkpoint writer
(SIGSTOP), as attack 27's test does, so the schedule is exact. With the content after the cut committed at an offset
(10 lines read and saved before the writer is stopped) the `.gz` replay keeps its ids (1 of 1): what fails is a
checkpoint rolled back across the cut the running agent saw.

logrotate `create` + `compress` fails the same way (README, "Known limits": "Elasticsearch absorbs them as 409s"):
the new live file the rotation made, saved as an empty placeholder, its 30 lines delivered and not committed, is
rotated and compressed while the agent is down; the restarted agent says "(empty when last seen) was rotated away
… its lines are in the rotated files read from their start" and reads `app.log.1.gz` from its start under new ids
(2 of 2 by hand, 30 of 30 lines; plain `create` without compression keeps them, the backup is the same inode).

logrotate `olddir` (every backup in another folder, the source's `paths` listing it: `[app.log, old/app.log*]`)
with plain `copytruncate`, one rotation while the agent is down: the restarted agent names no copytruncate window for
the copy made while it was down (without `olddir` it does: "found by the copy, made after the file was last looked
at") and reads `old/app.log.1` under new ids, 30 of 30 lines, its journal silent. With `hold_max_files: 0` 3 of 3 by
hand; with the holder (the default) 5 of 8 (the holder's events sometimes find it); without `olddir` 7 of 7 keep
the ids, holder or not. docs/design.md case 4 says a later copy is looked for beside the copy too (`olddir`,
tests/tail/test_attack18_copytruncate_olddir_windows_while_stopped.py); the naming of its content does not.

A backup by copy (logrotate `copy`, no truncation; or an operator's `cp app.log app.log.1` before an upgrade) and then
a copytruncate, both while the agent is down: the 30 lines are in both backups (`app.log.2`, the copy, and
`app.log.1`, the copytruncate's copy, which holds more) and are shipped again under new ids, silently (2 of 2 by
hand). The other order, copytruncate then copy, keeps them (1 of 1): design.md case 10 names "each plain backup made
after that copy" as the content the inode held *next*, but a copy without a cut is the same content.

Under a writer without O_APPEND (`prog > app.log`) the same kill -9 and copytruncate while down keep the ids, but
the restarted agent names a loss "before the N zero bytes at its start" of each later copy, whose hole is exactly as
long as the copy made before it (6,290 and 8,210 bytes: the earlier copies' sizes), which docs/design.md case 5 says is
no loss (fixed for a stop: tests/tail/test_attack27_hole_headed_backup_false_loss.py; with a SIGTERM instead of the
kill, 1 of 1 names none): plain 2 of 2, compress+delaycompress with two rotations 1 of 1 (two such losses).
"""
from __future__ import annotations

import pytest

from tests.tail.kill9_replay import repeat_named, replay_after_rotations_while_down


@pytest.mark.slow
@pytest.mark.parametrize("directives, rotations_while_down", [
    ("create\nrotate 3\ncompress", 1),
    ("copytruncate\nrotate 3\ncompress", 1),
    ("copytruncate\nrotate 3\ncompress\ndelaycompress", 1),
    ("copytruncate\nrotate 3\ncompress\ndelaycompress", 2),
], ids=["create-compress", "compress", "delaycompress", "delaycompress-two-rotations"])
def test_kill9_replay_from_a_compressed_backup_keeps_its_ids(tmp_path, directives, rotations_while_down):
    new_ids, journal = replay_after_rotations_while_down(tmp_path, directives, rotations_while_down)
    assert any(p.name.endswith(".gz") for p in (tmp_path / "logs").iterdir())
    assert not new_ids or repeat_named(journal), (f"{len(new_ids)} lines ({new_ids[0]}..{new_ids[-1]}) shipped twice "
                                                  "under two ids, no repeat named")


@pytest.mark.slow
@pytest.mark.parametrize("hold", ["    hold_max_files: 0\n", ""], ids=["no-holder", "holder"])
def test_kill9_replay_from_an_olddir_copytruncate_copy_keeps_its_ids_and_names_the_window(tmp_path, hold):
    (tmp_path / "logs" / "old").mkdir(parents=True)
    new_ids, journal = replay_after_rotations_while_down(
        tmp_path, f"copytruncate\nrotate 3\nolddir {tmp_path / 'logs' / 'old'}", 1,
        backups=str(tmp_path / "logs" / "old" / "app.log*"), source_extra=hold)
    window = [ln for ln in journal.splitlines() if "data lost" in ln and "old/app.log.1" in ln]
    assert (not new_ids or repeat_named(journal)) and window, (
        f"{len(new_ids)} lines shipped twice under two ids, no repeat named; the window of the copytruncate while down "
        f"named: {bool(window)}")


@pytest.mark.slow
def test_kill9_replay_after_a_copy_then_a_copytruncate_while_down_keeps_its_ids(tmp_path):
    new_ids, journal = replay_after_rotations_while_down(
        tmp_path, "copytruncate\nrotate 3", 2, while_down=("copy\nrotate 3", "copytruncate\nrotate 3"))
    assert not new_ids or repeat_named(journal), (f"{len(new_ids)} lines ({new_ids[0]}..{new_ids[-1]}) shipped twice "
                                                  "under two ids, no repeat named")


@pytest.mark.slow
@pytest.mark.parametrize("directives, rotations_while_down", [
    ("copytruncate\nrotate 3", 1),
    ("copytruncate\nrotate 5\ncompress\ndelaycompress", 2),
], ids=["plain", "delaycompress-two-rotations"])
def test_kill9_replay_under_a_non_appending_writer_names_no_false_hole_loss(tmp_path, directives, rotations_while_down):
    new_ids, journal = replay_after_rotations_while_down(tmp_path, directives, rotations_while_down, appending=False)
    false_losses = [ln for ln in journal.splitlines() if "data lost" in ln and "zero bytes at its start" in ln]
    assert not new_ids and not false_losses, (f"{len(new_ids)} lines under two ids; losses named of holes that stand "
                                              f"for bytes all in the copy before: {false_losses}")
