"""Attack 29 (issue 21, examiner exam29b): a kill -9 replay read back from a *compressed* backup gets new ids.

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


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="exam29b: a kill -9 replay read back from a compressed backup made while the "
                   "agent was down (logrotate create+compress: a new live file saved empty) or from a compressed "
                   "copytruncate copy (logrotate compress), or read from the plain copy made after a "
                   "copy compressed since (compress+delaycompress, one or two rotations while down) is "
                   "shipped under new ids: 30 of 30 lines twice with two ids, nothing named (copy_names names plain "
                   "backups only)")
@pytest.mark.parametrize("directives, rotations_while_down", [
    ("create\nrotate 3\ncompress", 1),
    ("copytruncate\nrotate 3\ncompress", 1),
    ("copytruncate\nrotate 3\ncompress\ndelaycompress", 1),
    ("copytruncate\nrotate 3\ncompress\ndelaycompress", 2),
], ids=["create-compress", "compress", "delaycompress", "delaycompress-two-rotations"])
def test_kill9_replay_from_a_compressed_copytruncate_copy_keeps_its_ids(tmp_path, directives, rotations_while_down):
    logs = tmp_path / "logs"
    logs.mkdir()
    live = logs / "app.log"

    def write(data: bytes) -> None:  # opened at each write: after a `create` rotation, into the new live file
        with open(live, "ab") as f:
            f.write(data)
    logrotate = logrotate_of(tmp_path, live, directives, settle=0.1)
    agent = Agent(tmp_path, [live])
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
        for _ in range(rotations_while_down):  # the 30 lines, or the copy of what was committed, end in a .gz
            logrotate()
            write(_lines(n, n + 20))
            n += 20
        assert any(p.name.endswith(".gz") for p in logs.iterdir())
        agent.start()
        assert agent.wait_delivered(range(n)), agent.errors()[-3000:]
        time.sleep(3)  # whatever else it reads or says
    finally:
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
    new_ids = sorted(seq for seq, seen in ids.items() if len(seen) > 1)
    second_run = (tmp_path / "out2.err").read_text(errors="replace")
    named = [ln for ln in second_run.splitlines() if "shipped again" in ln or "read again" in ln or "repeat" in ln]
    assert not new_ids or named, (f"{len(new_ids)} lines ({new_ids[0]}..{new_ids[-1]}) shipped twice under two ids, "
                                  "no repeat named")
