"""Attack 28 (exam28): exam27b's lock-file attack, moved to the database. 4805164 made `shipper.lock` its owner's alone
(0600), but when the agent makes its state_dir itself (outside the shipped unit: by hand, a container, another
supervisor) the folder is 0755 and `checkpoints.sqlite` 0644. SQLite's locks are POSIX record locks, and a read lock
needs only a descriptor opened read-only: any local user (here uid 65534) who opens the database and read-locks it
(`lockf(fd, LOCK_SH)`, or a `sqlite3` shell holding a read transaction) while the agent is down — a restart, an
upgrade; a waiting lock is granted the moment the agent lets go — keeps it from starting: `…/checkpoints.sqlite: cannot
open the checkpoint database (database is locked); check that the file and the state_dir are writable by the user
shipper runs as`, exit 2, the advice wrong (the files are writable; the holder is another user). 2 of 2 by hand;
without the lock the same start exits 0. What should hold: the database is its owner's alone too (0600, as the unit's
UMask=0077 would make it), so no other user can lock it; a refusal says who holds the lock."""
from __future__ import annotations

from tests.other_user_locks import READ_LOCK, start_while_locked_by_nobody


def test_another_user_cannot_lock_the_checkpoint_database() -> None:
    took, second = start_while_locked_by_nobody("attack28-db-", "checkpoints.sqlite", READ_LOCK)
    assert took != "locked" or second.returncode == 0, (
        f"uid 65534 holds a lock on the checkpoint database ({took}); the agent's start: exit {second.returncode}, "
        f"{second.stderr.decode()[-400:]}")
