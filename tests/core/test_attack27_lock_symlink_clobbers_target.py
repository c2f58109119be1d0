"""Attack 27 (exam27b): the state_dir's lock file, `shipper.lock`, replaced by a symlink. docs/operations.md
("Checkpoint database"): the agent holds an flock on `<state_dir>/shipper.lock` "(which holds the agent's pid)", and
since session 26 takes that lock again when the lock file alone is removed (a tmpfiles cleaner, an operator who took
it for stale). Both the start and that retake open the path as it is and follow a symlink there: the file it points
at, anywhere on the host, is cut to nothing and gets the agent's pid. Found by hand 3 of 3 (as root, as the docs'
`ExecStart` may run: twice with the lock file removed and a symlink put in its place while the agent ran, once with
the symlink there before a `run --once`): the target's content was gone, `27330\\n` in its place, and the journal
said `the state_dir's lock file was removed under the running agent …: taken again; the checkpoints are as they
were` — nothing of a symlink or of the file it wrote over. (A directory or a FIFO put there instead held: the retake
fails, reading pauses and the commit's warning names the state_dir.) Whoever can write in the state_dir (a state_dir
under /tmp, as the docs consider; a service user whose agent runs as root) so overwrites a file the agent can write:
an audit trail altered by the agent that ships it. What should hold: the lock file is opened without following a
symlink (O_NOFOLLOW; the agent made it itself, it is never a link), and one that is a link is refused and named; the
file it points at is left as it was."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support import wait
from tests.tail.attack_agent import Agent, append_numbered

pytestmark = pytest.mark.slow  # (tens of seconds: `make test` hands it out with the slow files, early)

SHIPPER = str(Path(sys.executable).with_name("shipper"))
PRECIOUS = "2026-12-07T14:00:00Z user=alice action=grant role=admin\n"  # another program's file


def test_the_lock_taken_again_does_not_write_through_a_symlink(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    log = logs / "a.log"
    append_numbered(log, 0, 50)
    victim = tmp_path / "elsewhere" / "audit.log"
    victim.parent.mkdir()
    victim.write_text(PRECIOUS)
    agent = Agent(tmp_path, [logs / "*.log"])
    agent.start()
    try:
        assert agent.wait_delivered(range(50), 60), agent.errors()
        lock = tmp_path / "state" / "shipper.lock"
        os.unlink(lock)
        os.symlink(victim, lock)  # in the removed lock file's place, before the agent takes it again
        append_numbered(log, 50, 100)  # events flow: the agent looks at its lock within a second
        assert agent.wait_delivered(range(50, 100), 60), agent.errors()
        wait(lambda: "lock file" in agent.errors(), 10)
        time.sleep(1)
    finally:
        agent.stop()
    assert victim.read_text() == PRECIOUS, (f"the file the symlink points at was overwritten: {victim.read_text()!r};"
                                            f" the journal: {agent.errors()[-1500:]}")
    # Fixed (checkpoint_db.lock_state_dir: O_NOFOLLOW): the retake is refused, naming the link.
    assert "shipper.lock is a symbolic link, not the lock file shipper makes" in agent.errors(), agent.errors()[-1500:]


def test_the_start_does_not_write_through_a_symlinked_lock_file(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    append_numbered(logs / "a.log", 0, 5)
    victim = tmp_path / "elsewhere" / "audit.log"
    victim.parent.mkdir()
    victim.write_text(PRECIOUS)
    state = tmp_path / "state"
    state.mkdir()
    os.symlink(victim, state / "shipper.lock")
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(json.dumps({"state_dir": str(state),
                               "sources": [{"name": "app", "type": "file", "paths": [str(logs / "*.log")],
                                            "parser": "json"}],
                               "outputs": [{"type": "stdout"}]}))
    run = subprocess.run([SHIPPER, "run", "--once", "-c", str(cfg)], capture_output=True, timeout=120)
    assert victim.read_text() == PRECIOUS, (f"the file the symlink points at was overwritten: {victim.read_text()!r}"
                                            f" (exit {run.returncode}; {run.stderr.decode()[-800:]})")
    assert run.returncode == 2 and b"shipper.lock is a symbolic link" in run.stderr, run.stderr[-800:]


# A hard link in the lock file's place (found after ee7dbb0's O_NOFOLLOW, 2 of 2 by hand at the retake, 1 of 1 at a
# start): whoever owns the state_dir may link there any file of its filesystem that it owns (fs.protected_hardlinks
# asks no more), and the agent opens the name as the lock file, cuts the file to nothing and writes its pid in — the
# link is no symlink, O_NOFOLLOW does not see it. What should hold: a lock file with another name (st_nlink > 1) is
# not the one the agent made: refused and named, or replaced by a new file, never written into.
def test_the_lock_taken_again_does_not_write_through_a_hard_link(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    log = logs / "a.log"
    append_numbered(log, 0, 50)
    victim = tmp_path / "elsewhere" / "audit.log"  # the same filesystem as the state_dir
    victim.parent.mkdir()
    victim.write_text(PRECIOUS)
    agent = Agent(tmp_path, [logs / "*.log"])
    agent.start()
    try:
        assert agent.wait_delivered(range(50), 60), agent.errors()
        lock = tmp_path / "state" / "shipper.lock"
        os.unlink(lock)
        os.link(victim, lock)  # in the removed lock file's place, before the agent takes it again
        append_numbered(log, 50, 100)  # events flow: the agent looks at its lock within a second
        assert agent.wait_delivered(range(50, 100), 60), agent.errors()
        # until the agent has looked at its lock (written through the link, or said something of the lock file):
        # on a loaded host that can take more than the second it takes here
        assert wait(lambda: victim.read_text() != PRECIOUS or "shipper.lock" in agent.errors()
                    or "lock file" in agent.errors(), 60), f"the agent never looked at its lock: {agent.errors()}"
        time.sleep(1)
    finally:
        agent.stop()
    assert victim.read_text() == PRECIOUS, (f"the hard-linked file was overwritten: {victim.read_text()!r};"
                                            f" the journal: {agent.errors()[-1500:]}")


def test_the_start_does_not_write_through_a_hard_linked_lock_file(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    append_numbered(logs / "a.log", 0, 5)
    victim = tmp_path / "elsewhere" / "audit.log"
    victim.parent.mkdir()
    victim.write_text(PRECIOUS)
    state = tmp_path / "state"
    state.mkdir()
    os.link(victim, state / "shipper.lock")
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(json.dumps({"state_dir": str(state),
                               "sources": [{"name": "app", "type": "file", "paths": [str(logs / "*.log")],
                                            "parser": "json"}],
                               "outputs": [{"type": "stdout"}]}))
    run = subprocess.run([SHIPPER, "run", "--once", "-c", str(cfg)], capture_output=True, timeout=120)
    assert victim.read_text() == PRECIOUS, (f"the hard-linked file was overwritten: {victim.read_text()!r}"
                                            f" (exit {run.returncode}; {run.stderr.decode()[-800:]})")
