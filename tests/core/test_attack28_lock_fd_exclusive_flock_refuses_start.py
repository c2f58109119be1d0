"""Attack 28 (exam28), on 299f1e6: a lock file "held only by shared flocks, which no shipper takes, is replaced" — but
flock(2) grants an exclusive lock on a read-only descriptor as well. The same local user (uid 65534) who opened an
earlier release's 0644 `shipper.lock` before the start's chmod 0600 waits on `flock(fd, LOCK_EX)` instead of
LOCK_SH: granted as the agent restarts, it is not "only shared", so the start is refused again — `still locked by the
checkpoint writer of a shipper that ended (pid N) … (is the state_dir's filesystem frozen, or its disk hung?)`, exit 2,
for as long as that process lives. 2 of 2 by hand, 1 of 1 in the test (test_attack28_lock_fd_opened_before_chmod's
steps with LOCK_EX). What should hold: a lock held by a process that is no shipper of this user (/proc/locks gives
its pid: its uid, its command line), shared or exclusive, does not keep the agent down (the lock file replaced), or
the refusal names that holder."""
from __future__ import annotations

from tests.other_user_locks import FLOCK_EXCLUSIVE, passable_folder, restart_with_a_lock_opened_before_the_chmod


def test_an_exclusive_flock_on_a_descriptor_opened_before_the_chmod_does_not_keep_the_agent_down() -> None:
    with passable_folder("attack28-lockx-") as folder:
        again = restart_with_a_lock_opened_before_the_chmod(folder, FLOCK_EXCLUSIVE)
    assert again.returncode == 0, f"the restart was refused: {again.stderr.decode()[-500:]}"
