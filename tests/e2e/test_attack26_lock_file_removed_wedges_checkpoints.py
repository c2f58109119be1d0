"""Attack 26 (exam26d): only the state_dir's lock file is removed under a running agent — the database stays. That is
what a tmpfiles cleaner does to a state_dir under /tmp (`q /tmp … 10d`: `shipper.lock` is written once at the start
and ages out; `checkpoints.sqlite` is written all the time and does not), or an operator who, told `in use by another
shipper (pid N)` with N not running, takes the lock for stale. (N not running happens: with the agent frozen —
`systemctl freeze`, `docker pause` — and its checkpoint writer killed meanwhile, a second start names the dead
writer's pid, 2 of 2 by hand.) docs/operations.md ("Checkpoint database"): the agent notices "that its lock file or
database was unlinked", makes the state_dir again, takes the lock again and copies its checkpoints: "Nothing is lost
or sent twice". Found by hand (3 of 3: twice with the agent running, once frozen with its writer killed): the agent
noticed, failed to make the database again — `StateDirGone: … the state_dir was removed under the running agent and
the checkpoint database cannot be made again (database is locked)` (the database it would replace is its own, still
there and open) — paused reading for good (`checkpoint commit failed; reading paused, retrying` to the end; /health
still 200 `ok` 8 s later), its stop exited 1 (`what was delivered since the last saved checkpoint is read and sent
again at the next start`), and a start right after was refused: `still locked by the checkpoint writer of a shipper
that ended`."""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.fs_faults import wait_lock_free
from tests.support import wait
from tests.tail.attack_agent import Agent, append_numbered, exactly_once

pytestmark = pytest.mark.slow  # (an agent, waits of seconds, a restart)


def test_the_lock_file_removed_alone_is_made_again_nothing_paused_or_repeated(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    log = logs / "a.log"
    append_numbered(log, 0, 50)
    agent = Agent(tmp_path, [logs / "*.log"])
    agent.start()
    try:
        assert agent.wait_delivered(range(50), 60), agent.errors()
        time.sleep(1)
        os.unlink(tmp_path / "state" / "shipper.lock")  # the database and its WAL stay
        time.sleep(2)
        append_numbered(log, 50, 100)
        assert agent.wait_delivered(range(100), 60), agent.errors()
        paused = wait(lambda: "reading paused" in agent.errors(), 10)
        append_numbered(log, 100, 150)
        shipped = agent.wait_delivered(range(150), 20)
    finally:
        code = agent.stop()
    said = "\n".join(ln[:400] for ln in agent.errors().splitlines() if "level=info" not in ln)
    assert not paused and shipped, f"reading paused after the lock file was removed: {said}"
    assert code == 0, f"the stop exited {code}: {said}"
    wait_lock_free(tmp_path / "state", 60)
    agent.start()
    try:
        append_numbered(log, 150, 160)
        agent.wait_delivered(range(160), 60)
    finally:
        agent.stop()
    assert exactly_once(agent.seqs(), range(160)) == "", agent.errors()[-3000:]
    # Said for what it was: the lock file alone, not the state_dir and "anything else kept there" (exam26d's note).
    assert "the state_dir's lock file was removed under the running agent" in said, said
    assert "anything else kept there is gone" not in said, said
