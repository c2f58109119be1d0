"""Black-box attack 6 (hostile operator on the state_dir): the agent writes its snapshot for `shipper status`
to a temporary file of a predictable name, `checkpoints.snapshot.json.<writer pid>.tmp`, then renames it.
A symlink planted under that name (`ln -s /etc/… state/checkpoints.snapshot.json.<pid>.tmp`) is followed:
the agent overwrites the file it points to with its checkpoint rows, and the snapshot itself becomes that
symlink (2 of 2 by hand, plus this test). The promise (docs/operations.md): the snapshot is a file of the
agent's own (mode 0600) written to a temporary file and renamed; the agent alters nothing outside it."""
from __future__ import annotations

import time

import pytest

from tests.support import writer_pid
from tests.tail.attack_agent import Agent, numbered

pytestmark = pytest.mark.slow


def _inode(path) -> int | None:
    try:
        return path.lstat().st_ino
    except FileNotFoundError:
        return None


def test_snapshot_is_not_written_through_a_symlink_planted_at_its_temporary_name(tmp_path):
    log = tmp_path / "app.log"
    log.write_text("".join(numbered(i) for i in range(100)))
    victim = tmp_path / "precious.conf"
    victim.write_text("precious\n")
    agent = Agent(tmp_path, [log])
    agent.start()
    try:
        assert agent.wait_delivered(range(100)), agent.errors()
        snap = tmp_path / "state" / "checkpoints.snapshot.json"
        before = _inode(snap)
        (snap.parent / f"{snap.name}.{writer_pid(agent.proc.pid)}.tmp").symlink_to(victim)
        with open(log, "a") as f:  # a change, so the agent writes a new snapshot
            f.write("".join(numbered(i) for i in range(100, 200)))
        assert agent.wait_delivered(range(200)), agent.errors()
        # The snapshot is written every 5 s while positions change: until one is written after the symlink
        # (renamed in, a new inode; or through it), not 30 s whatever happens.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and victim.read_text() == "precious\n" and not snap.is_symlink() \
                and _inode(snap) in (before, None):
            time.sleep(0.2)
        assert _inode(snap) not in (before, None) or snap.is_symlink(), "no snapshot written in 60 s"
        assert victim.read_text() == "precious\n", f"overwritten: {victim.read_text()[:80]!r}"
        assert not snap.is_symlink()
    finally:
        assert agent.stop() in (0, 1)
