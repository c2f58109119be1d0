"""Attack 29 (exam29a), on 6ab884a: a flock on `shipper.lock` held by a process of root's that is no shipper — an
operator's backup that holds the lock while it copies the state_dir (`flock /var/lib/shipper/shipper.lock restic
backup …`), or a script left holding it. docs/operations.md: "A flock held by a process of those users [the agent's,
root's, the state_dir owner's] is a shipper's, whatever its command line", so the start is refused — but the refusal
names neither that process nor its command: `still locked by the checkpoint writer of a shipper that ended (pid N): it
ends once the write it is in returns (is the state_dir's filesystem frozen, or its disk hung?); start again then`,
where N is the pid the last run wrote into the lock file, long gone, and nothing is frozen. The operator looks for a
frozen filesystem and a dead agent's writer while the holder lives on, unnamed. 2 of 2 by hand (`flock` on a tmpfs
state_dir, a Python flock(LOCK_EX) on ext4), 1 of 1 in the test. What should hold: the refusal names the holder
/proc/locks lists (its pid and command), as the database's refusal does (`… locked by pid N (user …: command)`)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.journal_sinks import SHIPPER
from tests.other_user_locks import shipped_once
from tests.support import stop_process


def test_a_start_refused_by_a_root_process_flock_names_that_process(tmp_path: Path) -> None:
    cfg, state, _ = shipped_once(tmp_path, 5, shutdown_timeout=5)
    holder = subprocess.Popen(  # the operator's backup, as root: holds the lock while it copies
        [sys.executable, "-I", "-c", "import fcntl, os, sys, time\nfd = os.open(sys.argv[1], os.O_RDONLY)\n"
         "fcntl.flock(fd, fcntl.LOCK_EX)\nprint('holding', flush=True)\ntime.sleep(300)", str(state / "shipper.lock")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        second = subprocess.run([SHIPPER, "run", "--once", "-c", str(cfg)], capture_output=True, text=True,
                                timeout=120)
        assert second.returncode == 2, second.stderr[-2000:]  # refused (as documented)
        assert "ended" not in second.stderr and "frozen" not in second.stderr, second.stderr
        assert str(holder.pid) in second.stderr, second.stderr
    finally:
        stop_process(holder)
