"""Attack 28 (exam28), on 33d355e: the checkpoint database is made, or set, its owner's alone (0600) — but a
descriptor opened while an earlier release left it 0644 stays valid after the chmod, and a POSIX read lock needs no
more. A local user (uid 65534) opens `checkpoints.sqlite` in that earlier state (the agent down, or running: the
descriptor waits), and read-locks it when the agent is down (a restart, an upgrade's): the upgraded agent sets 0600
— too late — and its start is refused, `…/checkpoints.sqlite: cannot open the checkpoint database (database is
locked); check that the file and the state_dir are writable by the user shipper runs as`, exit 2, the advice wrong,
for as long as that process lives. 2 of 2 by hand. What should hold: the agent starts, or the refusal names the
holder (/proc/locks gives its pid) and what to do; a lock of a process that is no shipper of this user does not keep
the agent down (the database copied to a new file renamed over it, as 4fb813e/299f1e6 replace the lock file). Fixed (session 29): the database
is copied over (shipper.checkpoint_db._copy_over); tests/core/test_checkpoint_db_locked_by_another.py for the rest."""
from __future__ import annotations

import json
import subprocess

from tests.journal_sinks import SHIPPER, numbered
from tests.other_user_locks import READ_LOCK, locked_by_nobody, passable_folder, shipped_once


def test_a_database_descriptor_opened_before_the_chmod_does_not_keep_the_agent_down() -> None:
    with passable_folder("attack28-dbfd-") as folder:
        cfg, state, logs = shipped_once(folder)
        state.chmod(0o755)
        (state / "checkpoints.sqlite").chmod(0o644)  # as an earlier release left it
        with locked_by_nobody(state / "checkpoints.sqlite", READ_LOCK) as took:  # opened now, read-locked
            with open(logs / "a.log", "a") as f:
                f.write(numbered(5, 8))
            second = subprocess.run([SHIPPER, "run", "--once", "-c", str(cfg)], capture_output=True, timeout=120)
    assert took == "locked", took
    assert second.returncode == 0, f"the start was refused: {second.stderr.decode()[-500:]}"
    assert [json.loads(ln)["generic"]["n"] for ln in second.stdout.splitlines()] == [5, 6, 7]
