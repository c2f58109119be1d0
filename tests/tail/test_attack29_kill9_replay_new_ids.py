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

import json
import os
import signal
import time
from collections import defaultdict

import pytest

from tests.support import writer_pid
from tests.tail.attack_agent import Agent, logrotate_of


def _lines(lo: int, hi: int) -> bytes:
    return "".join(json.dumps({"seq": i, "pad": "x" * 40}) + "\n" for i in range(lo, hi)).encode()


def _replay_after_rotations_while_down(tmp_path, directives: str, rotations_while_down: int, backups: str = "",
                                      source_extra: str = "", while_down: tuple = (),
                                      appending: bool = True) -> tuple[list, str]:
    """100 lines delivered and committed, a rotation the running agent sees, 30 lines delivered and not committed
    (its checkpoint writer stopped), a kill -9, `rotations_while_down` rotations (20 lines after each; of the
    directives `while_down` lists, one each, if it does), a restart. Not `appending`: one descriptor without
    O_APPEND writes every line (`prog > app.log`: after a copytruncate its next write leaves a hole).
    Returns the lines delivered under two ids and the restarted agent's journal."""
    logs = tmp_path / "logs"
    logs.mkdir(exist_ok=True)
    live = logs / "app.log"

    fd = None if appending else os.open(live, os.O_WRONLY | os.O_CREAT, 0o644)

    def write(data: bytes) -> None:  # opened at each write: after a `create` rotation, into the new live file
        if fd is not None:
            os.write(fd, data)
            return
        with open(live, "ab") as f:
            f.write(data)
    logrotate = logrotate_of(tmp_path, live, directives, settle=0.1)
    agent = Agent(tmp_path, [live] + ([backups] if backups else []), source_extra)
    agent.cfg.write_text(agent.cfg.read_text().replace("  - type: stdout\n",
                                                       "  - type: stdout\n    id_field: _shipper_id\n"))
    checkpoint_writer = None
    try:
        write(_lines(0, 100))
        agent.start()
        assert agent.wait_delivered(range(100)), agent.errors()
        time.sleep(2)  # committed
        logrotate()
        checkpoint_writer = writer_pid(agent.proc.pid)
        os.kill(checkpoint_writer, signal.SIGSTOP)  # what is delivered from now on is not committed
        write(_lines(100, 130))
        assert agent.wait_delivered(range(130)), agent.errors()
        time.sleep(1)  # delivered, its commit held by the stopped writer
        agent.proc.kill()
        agent.proc.wait()
        os.kill(checkpoint_writer, signal.SIGKILL)
        checkpoint_writer = None
        n = 130
        for i in range(rotations_while_down):
            if while_down:
                logrotate_of(tmp_path, live, while_down[i], settle=0.1)()
            else:
                logrotate()
            write(_lines(n, n + 20))
            n += 20
        agent.start()
        assert agent.wait_delivered(range(n)), agent.errors()[-3000:]
        time.sleep(3)  # whatever else it reads or says
    finally:
        if fd is not None:
            os.close(fd)
        if checkpoint_writer is not None:
            os.kill(checkpoint_writer, signal.SIGKILL)
        if agent.proc is not None and agent.proc.poll() is None:
            agent.stop()
    ids: dict[int, set] = defaultdict(set)
    for run in (1, 2):
        for line in (tmp_path / f"out{run}.jsonl").read_bytes().splitlines():
            record = json.loads(line)
            ids[record["generic"]["seq"]].add(record["_shipper_id"])
    assert set(ids) == set(range(n))
    return sorted(seq for seq, seen in ids.items() if len(seen) > 1), (tmp_path / "out2.err").read_text(errors="replace")


def _repeat_named(journal: str) -> list:
    return [ln for ln in journal.splitlines() if "shipped again" in ln or "read again" in ln or "repeat" in ln]


@pytest.mark.slow
@pytest.mark.parametrize("directives, rotations_while_down", [
    pytest.param("create\nrotate 3\ncompress", 1, marks=pytest.mark.xfail(strict=True, reason=(
        "exam29b: a kill -9 replay read back from a compressed backup made while the agent was down (logrotate "
        "create+compress: a new live file saved empty, then rotated and compressed) is shipped under new ids: 30 of 30 "
        "lines twice with two ids, nothing named"))),
    ("copytruncate\nrotate 3\ncompress", 1),
    ("copytruncate\nrotate 3\ncompress\ndelaycompress", 1),
    ("copytruncate\nrotate 3\ncompress\ndelaycompress", 2),
], ids=["create-compress", "compress", "delaycompress", "delaycompress-two-rotations"])
def test_kill9_replay_from_a_compressed_backup_keeps_its_ids(tmp_path, directives, rotations_while_down):
    new_ids, journal = _replay_after_rotations_while_down(tmp_path, directives, rotations_while_down)
    assert any(p.name.endswith(".gz") for p in (tmp_path / "logs").iterdir())
    assert not new_ids or _repeat_named(journal), (f"{len(new_ids)} lines ({new_ids[0]}..{new_ids[-1]}) shipped twice "
                                                   "under two ids, no repeat named")


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="exam29b: logrotate olddir + copytruncate, a kill -9 replay, one rotation while "
                   "down, hold_max_files 0: the restarted agent names no window for the copy made while down and reads "
                   "old/app.log.1 under new ids, 30 of 30 lines twice, nothing named (with the holder 5 of 8)")
def test_kill9_replay_from_an_olddir_copytruncate_copy_keeps_its_ids_and_names_the_window(tmp_path):
    (tmp_path / "logs" / "old").mkdir(parents=True)
    new_ids, journal = _replay_after_rotations_while_down(
        tmp_path, f"copytruncate\nrotate 3\nolddir {tmp_path / 'logs' / 'old'}", 1,
        backups=str(tmp_path / "logs" / "old" / "app.log*"), source_extra="    hold_max_files: 0\n")
    window = [ln for ln in journal.splitlines() if "data lost" in ln and "old/app.log.1" in ln]
    assert (not new_ids or _repeat_named(journal)) and window, (
        f"{len(new_ids)} lines shipped twice under two ids, no repeat named; the window of the copytruncate while down "
        f"named: {bool(window)}")


@pytest.mark.slow
def test_kill9_replay_after_a_copy_then_a_copytruncate_while_down_keeps_its_ids(tmp_path):
    new_ids, journal = _replay_after_rotations_while_down(
        tmp_path, "copytruncate\nrotate 3", 2, while_down=("copy\nrotate 3", "copytruncate\nrotate 3"))
    assert not new_ids or _repeat_named(journal), (f"{len(new_ids)} lines ({new_ids[0]}..{new_ids[-1]}) shipped twice "
                                                   "under two ids, no repeat named")


@pytest.mark.slow
@pytest.mark.parametrize("directives, rotations_while_down", [
    ("copytruncate\nrotate 3", 1),
    ("copytruncate\nrotate 5\ncompress\ndelaycompress", 2),
], ids=["plain", "delaycompress-two-rotations"])
def test_kill9_replay_under_a_non_appending_writer_names_no_false_hole_loss(tmp_path, directives, rotations_while_down):
    new_ids, journal = _replay_after_rotations_while_down(tmp_path, directives, rotations_while_down, appending=False)
    false_losses = [ln for ln in journal.splitlines() if "data lost" in ln and "zero bytes at its start" in ln]
    assert not new_ids and not false_losses, (f"{len(new_ids)} lines under two ids; losses named of holes that stand "
                                              f"for bytes all in the copy before: {false_losses}")
