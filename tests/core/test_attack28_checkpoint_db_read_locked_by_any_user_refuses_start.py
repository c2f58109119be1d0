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

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.journal_sinks import SHIPPER, numbered


def test_another_user_cannot_lock_the_checkpoint_database() -> None:
    # a folder others can pass through, as /var/lib or /srv (pytest's tmp_path is under a 0700 folder of root's)
    tmp_path = Path(tempfile.mkdtemp(prefix="attack28-db-", dir="/tmp"))
    tmp_path.chmod(0o755)
    try:
        _attack(tmp_path)
    finally:
        shutil.rmtree(tmp_path, ignore_errors=True)


def _attack(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "a.log").write_text(numbered(0, 5))
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(json.dumps({"state_dir": str(tmp_path / "state"),
                               "sources": [{"name": "app", "type": "file", "paths": [str(logs / "*.log")],
                                            "parser": "json"}],
                               "outputs": [{"type": "stdout"}]}))
    first = subprocess.run([SHIPPER, "run", "--once", "-c", str(cfg)], capture_output=True, timeout=120)
    assert first.returncode == 0, first.stderr.decode()[-400:]
    locker = subprocess.Popen(  # nobody: opens the database read-only and read-locks it
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3", "-I", "-c",
         "import fcntl, os, sys, time\n"
         "try:\n    fd = os.open(sys.argv[1], os.O_RDONLY)\n    fcntl.lockf(fd, fcntl.LOCK_SH, 0, 0, 0)\n"
         "    print('locked', flush=True)\nexcept OSError as e:\n    print('refused', e, flush=True)\ntime.sleep(120)",
         str(tmp_path / "state" / "checkpoints.sqlite")], stdout=subprocess.PIPE, text=True)
    try:
        assert locker.stdout is not None
        took = locker.stdout.readline().strip()
        second = subprocess.run([SHIPPER, "run", "--once", "-c", str(cfg)], capture_output=True, timeout=120)
    finally:
        locker.kill()
        locker.wait()
    assert took != "locked" or second.returncode == 0, (
        f"uid 65534 holds a lock on the checkpoint database ({took}); the agent's start: exit {second.returncode}, "
        f"{second.stderr.decode()[-400:]}")
