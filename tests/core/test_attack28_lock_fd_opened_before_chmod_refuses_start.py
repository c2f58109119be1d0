"""Attack 28 (exam28): 4805164 makes the lock file its owner's alone (0600) and sets an earlier release's 0644 one so at
the next start — but a descriptor opened before that chmod stays valid. A local user (uid 65534) opens the 0644
`shipper.lock` an earlier release left while the agent is down (or any time before the upgrade), keeps the
descriptor, and asks flock for a shared lock, waiting. The upgraded agent starts: it sets 0600 (too late for that
descriptor) and runs. At its next restart (a reload of the unit, a reboot's stop, an upgrade again) the waiting flock
is granted the moment the agent lets go, and the start is refused: `…/state: still locked by the checkpoint writer of
a shipper that ended (pid N): it ends once the write it is in returns (is the state_dir's filesystem frozen, or its
disk hung?)`, exit 2 — N the last agent's pid, the filesystem fine, the holder uid 65534; systemd's Restart= meets
the same refusal for as long as that process lives. 2 of 2 by hand. What should hold: the agent starts (a lock file
whose flock is held by no shipper — /proc/locks names the holder — is replaced by a new one, as 4fb813e replaces a
hard-linked one), or at least the refusal names the holder, not a frozen filesystem."""
from __future__ import annotations

from tests.other_user_locks import FLOCK_SHARED, passable_folder, restart_with_a_lock_opened_before_the_chmod


def test_a_lock_descriptor_opened_before_the_chmod_does_not_keep_the_agent_down() -> None:
    with passable_folder("attack28-lock-") as folder:
        again = restart_with_a_lock_opened_before_the_chmod(folder, FLOCK_SHARED)
    assert again.returncode == 0, f"the restart was refused: {again.stderr.decode()[-500:]}"
