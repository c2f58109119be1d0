"""Attack 27 (issue 21, examiner exam27a): a copytruncate copy the agent first sees while it is still being written
(a large log copied on a slow or busy disk: the copy holds only its first line for a moment) waits to be told apart
and is not told apart as it grows. Deleted a few seconds later (a postrotate that uploads and removes the backup, a
cleaner, rotations in quick succession), it is named

    data lost: an unknown number of bytes of app.log.1 (the whole file): it was deleted while it could not yet be told
    apart from app.log (it held no more than their shared first line), and was not read

and counted (shipper_losses_total 2: the window and this), although it then held 400 lines, every one of them
read from the live file before the truncation and delivered once: nothing was lost. docs/design.md: such a file "is
re-examined as it grows". Left alone, it is decided later (no repeat, no word), so only a deletion within those
seconds shows it.

Found with a kill -9 / SIGSTOP fuzz (hand-rolled cp+truncate every 0.5-2.5 s, 1 false "whole file" loss in 29
rotations, every missing line inside a copy-to-truncate window); by hand 3 of 3 (the agent running, SIGSTOPped
across the copy's start, deleted by a cleaner 3.5 s later).
"""
from __future__ import annotations

import json
import os
import time

import pytest

from tests.tail.attack_agent import Agent


def _lines(lo: int, hi: int) -> bytes:
    return "".join(json.dumps({"seq": i, "pad": "x" * 40}) + "\n" for i in range(lo, hi)).encode()


@pytest.mark.slow
def test_a_copy_seen_while_being_written_is_no_loss_when_deleted(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    live = logs / "app.log"
    fd = os.open(live, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    agent = Agent(tmp_path, [live])
    try:
        os.write(fd, _lines(0, 400))
        agent.start()
        assert agent.wait_delivered(range(400)), agent.errors()
        time.sleep(1)
        data = live.read_bytes()
        first = data[:data.index(b"\n") + 1]
        with open(logs / "app.log.1", "wb") as copy:  # copytruncate's copy, written slowly
            copy.write(first)
            copy.flush()
            time.sleep(0.5)  # seen holding its first line
            copy.write(data[len(first):])
        os.truncate(live, 0)
        os.write(fd, _lines(400, 410))
        assert agent.wait_delivered(range(410)), agent.errors()
        time.sleep(3)
        (logs / "app.log.1").unlink()  # uploaded and removed by a postrotate, or a cleaner
        time.sleep(5)
        counted = agent.losses_counted()
    finally:
        os.close(fd)
        if agent.proc is not None and agent.proc.poll() is None:
            agent.stop()
    assert sorted(agent.seqs()) == list(range(410)), "every line once"
    false = [ln for ln in agent.errors().splitlines() if "data lost" in ln and "app.log.1 (the whole file)" in ln]
    assert not false, f"a loss named where none was (shipper_losses_total {counted}):\n" + "\n".join(false)
