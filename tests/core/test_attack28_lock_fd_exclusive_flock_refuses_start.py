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

import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from tests.journal_sinks import SHIPPER, numbered
from tests.support import stop_process, wait


def test_an_exclusive_flock_on_a_descriptor_opened_before_the_chmod_does_not_keep_the_agent_down() -> None:
    # a folder others can pass through, as /var/lib or /srv (pytest's tmp_path is under a 0700 folder of root's)
    tmp_path = Path(tempfile.mkdtemp(prefix="attack28-lockx-", dir="/tmp"))
    tmp_path.chmod(0o755)
    try:
        _attack(tmp_path)
    finally:
        shutil.rmtree(tmp_path, ignore_errors=True)


def _attack(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "a.log").write_text(numbered(0, 5))
    state = tmp_path / "state"
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(json.dumps({"state_dir": str(state), "shutdown_timeout": 5,
                               "sources": [{"name": "app", "type": "file", "paths": [str(logs / "*.log")],
                                            "parser": "json", "poll_interval": 0.2}],
                               "outputs": [{"type": "stdout"}]}))
    first = subprocess.run([SHIPPER, "run", "--once", "-c", str(cfg)], capture_output=True, timeout=120)
    assert first.returncode == 0, first.stderr.decode()[-400:]
    state.chmod(0o755)
    (state / "shipper.lock").chmod(0o644)  # as an earlier release left it
    waiter = subprocess.Popen(  # nobody: opens it now, and waits for an exclusive lock whenever it is free
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3", "-I", "-c",
         "import fcntl, os, sys, time\n"
         "fd = os.open(sys.argv[1], os.O_RDONLY)\nprint('opened', flush=True)\nsys.stdin.readline()\n"
         "fcntl.flock(fd, fcntl.LOCK_EX)\nprint('holding', flush=True)\ntime.sleep(300)",
         str(state / "shipper.lock")], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    agent = None
    try:
        assert waiter.stdout is not None and waiter.stdout.readline().strip() == "opened"
        out = tmp_path / "out.jsonl"
        with open(out, "wb") as o:
            agent = subprocess.Popen([SHIPPER, "run", "-c", str(cfg)], stdout=o, stderr=subprocess.DEVNULL)
        assert wait(lambda: (state / "shipper.lock").stat().st_mode & 0o777 == 0o600, 60), "not set to 0600"
        assert wait(lambda: (state / "shipper.lock").read_text().strip() == str(agent.pid), 60), "no lock taken"
        assert waiter.stdin is not None
        waiter.stdin.write("go\n")  # the waiter asks for its lock now, while the agent holds it
        waiter.stdin.flush()
        time.sleep(2)
        assert agent.poll() is None, "the upgraded agent did not run"
        stop_process(agent, 30)  # the restart
        time.sleep(1)
        again = subprocess.run([SHIPPER, "run", "--once", "-c", str(cfg)], capture_output=True, timeout=120)
    finally:
        if agent is not None and agent.poll() is None:
            stop_process(agent, 30)
        waiter.kill()
        waiter.wait()
    assert again.returncode == 0, f"the restart was refused: {again.stderr.decode()[-500:]}"
