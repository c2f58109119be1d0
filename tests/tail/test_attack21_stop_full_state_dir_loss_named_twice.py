"""Attack 21 (exam23d, issue 13): a stop while the state_dir is full, during rotations that deleted files the agent
held open unread, names their loss; the next start names it again.

docs/operations.md: reading pauses while checkpoint commits fail (the state_dir full); at a stop "while the writer had
deleted files it still held open unread: what was unread in them is lost with the last descriptor, and the stop warns
it per family, with the number of files and their unread bytes …, counted in `shipper_losses`, and saved as gone, read
up to where it was: the next start does not name those bytes again". A stop while full without a reserve (a 3 MiB
state_dir makes none) cannot save.

Here: 100 lines delivered and saved; the state_dir filled (kept full); lines 100-199 delivered, their commit refused;
then ten Log4j-style rotations (app.log renamed over app.log.1, 200 lines each) delete nine files the held-up reader
never read; SIGTERM while still full. The stop says `data lost: 80200 bytes of …/app.log were never read: 9 rotated
file(s) of it were deleted while the agent held them open, and the agent stopped before they were read` (exact: the 1,800
lines) and exits 1. The space comes back; the next start says `data lost: an unknown number of bytes of …/app.log
written after the last read: the file was rotated away before the rest could be read …` of the first file, from its
last saved offset: bytes the stop already named, and lines 100-199, which were delivered (2 of 2 by hand, 2 of 2 here).
The operator is told of a second loss that did not happen.

Session 24 (fix13r): the checkpoint writer keeps the rows the full filesystem refuses in room it set aside at its
start (shipper.refused_rows: `checkpoints.refused`, 256 KiB allocated while there was room), the stop's gone states
and the delivered batches' checkpoints among them, and the next start saves them before the source reads: nothing
named again (before: 4 of 4 alone; after: passes, also beside the commits a stop's save of unread states makes).
"""
from __future__ import annotations

import os
import time
from collections import Counter

import pytest

from tests.fs_faults import kept_full, small_tmpfs
from tests.tail.attack_agent import Agent, append_numbered, append_until_commits_fail

pytestmark = pytest.mark.slow  # (tens of seconds: `make test` hands it out with the slow files, early)


def test_a_loss_named_by_a_stop_on_a_full_state_dir_is_not_named_again(tmp_path) -> None:
    log, rotated = tmp_path / "app.log", tmp_path / "app.log.1"
    append_numbered(log, 0, 100)
    agent = Agent(tmp_path, [log])
    with small_tmpfs(tmp_path / "state", 3072) as state:
        try:
            agent.start()
            assert agent.wait_delivered(range(100)), agent.errors()
            with kept_full(state):
                n = append_until_commits_fail(agent, log, 100)
                for _ in range(10):
                    append_numbered(log, n, n + 200)
                    n += 200
                    os.rename(log, rotated)  # over the last backup: it is deleted
                    time.sleep(0.3)
                append_numbered(log, n, n + 200)
                n += 200
                time.sleep(2)
                assert agent.stop() == 1, agent.errors()[-2000:]
            stop_journal = agent.errors()
            agent.start()
            agent.wait_delivered(range(n - 400, n), 60)  # app.log.1 and app.log, still on disk
            time.sleep(3)
            assert agent.stop() == 0, agent.errors()[-2000:]
        finally:
            if agent.proc is not None and agent.proc.poll() is None:
                agent.proc.kill()
                agent.proc.wait(30)
    counts = Counter(agent.seqs())
    assert max(counts.values()) == 1, "a line delivered twice"
    named_at_stop = [line for line in stop_journal.splitlines() if "data lost" in line]
    assert named_at_stop, "the stop named no loss: the premise of this test did not occur"
    start_journal = agent.errors()[len(stop_journal):]
    named_again = [line[:400] for line in start_journal.splitlines() if "data lost" in line]
    assert not named_again, f"named at the stop: {named_at_stop[0][:300]}; named again at the start: {named_again}"
