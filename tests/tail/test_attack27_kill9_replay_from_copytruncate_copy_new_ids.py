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

import json
import os
import shutil
import signal
import time
from collections import defaultdict

import pytest

from tests.support import writer_pid
from tests.tail.attack_agent import Agent


def _lines(lo: int, hi: int) -> bytes:
    return "".join(json.dumps({"seq": i, "pad": "x" * 40}) + "\n" for i in range(lo, hi)).encode()


@pytest.mark.slow
def test_kill9_replay_from_a_copytruncate_copy_keeps_its_ids(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    live = logs / "app.log"
    fd = os.open(live, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def copytruncate() -> None:  # logrotate copytruncate's steps, by hand (rotate 3)
        for i in (2, 1):
            if (logs / f"app.log.{i}").exists():
                os.rename(logs / f"app.log.{i}", logs / f"app.log.{i + 1}")
        shutil.copyfile(live, logs / "app.log.1")
        os.truncate(live, 0)

    agent = Agent(tmp_path, [live])
    agent.cfg.write_text(agent.cfg.read_text().replace("  - type: stdout\n",
                                                       "  - type: stdout\n    id_field: _shipper_id\n"))
    checkpoint_writer = None
    try:
        os.write(fd, _lines(0, 100))
        agent.start()
        assert agent.wait_delivered(range(100)), agent.errors()
        time.sleep(2)  # committed
        copytruncate()
        checkpoint_writer = writer_pid(agent.proc.pid)
        os.kill(checkpoint_writer, signal.SIGSTOP)  # what is delivered from now on is not committed
        os.write(fd, _lines(100, 130))
        assert agent.wait_delivered(range(130)), agent.errors()
        time.sleep(1)  # delivered, its commit held by the stopped writer
        agent.proc.kill()
        agent.proc.wait()
        os.kill(checkpoint_writer, signal.SIGKILL)
        checkpoint_writer = None
        copytruncate()  # while the agent is down: the 30 lines are in app.log.1 now
        os.write(fd, _lines(130, 150))
        agent.start()
        assert agent.wait_delivered(range(150)), agent.errors()[-3000:]
        time.sleep(3)  # whatever else it reads or says
    finally:
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
    assert set(ids) == set(range(150))
    new_ids = sorted(seq for seq, seen in ids.items() if len(seen) > 1)
    named = [ln for ln in agent.errors().splitlines() if "shipped again" in ln or "read again" in ln or "repeat" in ln]
    assert not new_ids or named, (f"{len(new_ids)} lines ({new_ids[0]}..{new_ids[-1]}) shipped twice under two ids, "
                                  "no repeat named")
