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

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

SHIPPER = str(Path(sys.executable).with_name("shipper"))


def test_another_user_cannot_hold_the_state_dirs_lock() -> None:
    # a folder others can pass through, as /var/lib or /srv (pytest's tmp_path is under a 0700 folder of root's)
    tmp_path = Path(tempfile.mkdtemp(prefix="attack27-lock-", dir="/tmp"))
    tmp_path.chmod(0o755)
    try:
        _attack(tmp_path)
    finally:
        shutil.rmtree(tmp_path, ignore_errors=True)


def _attack(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "a.log").write_text("".join(json.dumps({"n": i}) + "\n" for i in range(5)))
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(json.dumps({"state_dir": str(tmp_path / "state"),
                               "sources": [{"name": "app", "type": "file", "paths": [str(logs / "*.log")],
                                            "parser": "json"}],
                               "outputs": [{"type": "stdout"}]}))
    first = subprocess.run([SHIPPER, "run", "--once", "-c", str(cfg)], capture_output=True, timeout=120)
    assert first.returncode == 0, first.stderr.decode()[-400:]
    squatter = subprocess.Popen(  # nobody: opens the lock file read-only and flocks it
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3", "-I", "-c",
         "import fcntl, os, sys, time\n"
         "try:\n    fd = os.open(sys.argv[1], os.O_RDONLY)\n    fcntl.flock(fd, fcntl.LOCK_EX)\n"
         "    print('locked', flush=True)\nexcept OSError as e:\n    print('refused', e, flush=True)\ntime.sleep(120)",
         str(tmp_path / "state" / "shipper.lock")], stdout=subprocess.PIPE, text=True)
    try:
        assert squatter.stdout is not None
        took = squatter.stdout.readline().strip()
        second = subprocess.run([SHIPPER, "run", "--once", "-c", str(cfg)], capture_output=True, timeout=120)
    finally:
        squatter.kill()
        squatter.wait()
    assert took != "locked" or second.returncode == 0, (
        f"uid 65534 holds the state_dir's lock ({took}); the agent's start: exit {second.returncode}, "
        f"{second.stderr.decode()[-400:]}")
    # Fixed (checkpoint_db.lock_state_dir): the lock file is its owner's alone (0600), so no other user opens it.
    assert took.startswith("refused") and second.returncode == 0, took
