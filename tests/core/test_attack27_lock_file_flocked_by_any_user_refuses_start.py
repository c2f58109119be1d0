"""Attack 27 (exam27b): the state_dir's lock file is readable by every user when the agent makes the state_dir itself
(`shipper run` outside the shipped unit — by hand, a container, another supervisor: the folder 0755, `shipper.lock`
and `checkpoints.sqlite` 0644; the unit's StateDirectoryMode=0750 and UMask=0077 close this, the agent does not).
flock(2) takes an exclusive lock on a descriptor opened read-only, so any local user who opens `shipper.lock` and
locks it while the agent is down (a restart, an upgrade) keeps it from starting, and the refusal names the wrong
holder and the wrong cause: `error: …/state: still locked by the checkpoint writer of a shipper that ended (pid N):
it ends once the write it is in returns (is the state_dir's filesystem frozen, or its disk hung?); start again then`
— N the pid the file holds (the last agent, long gone), the filesystem fine, the holder a process of uid 65534.
Found by hand 1 of 1, 2 of 2 with this test. What should hold: the agent makes its state_dir and lock file for its
own user only (0700/0600, as its unit would), so no other user can take the lock; and a refusal whose holder is no
shipper process says who holds it."""
from __future__ import annotations

from tests.other_user_locks import FLOCK_EXCLUSIVE, start_while_locked_by_nobody


def test_another_user_cannot_hold_the_state_dirs_lock() -> None:
    took, second = start_while_locked_by_nobody("attack27-lock-", "shipper.lock", FLOCK_EXCLUSIVE)
    assert took != "locked" or second.returncode == 0, (
        f"uid 65534 holds the state_dir's lock ({took}); the agent's start: exit {second.returncode}, "
        f"{second.stderr.decode()[-400:]}")
    # Fixed (checkpoint_db.lock_state_dir): the lock file is its owner's alone (0600), so no other user opens it.
    assert took.startswith("refused") and second.returncode == 0, took
