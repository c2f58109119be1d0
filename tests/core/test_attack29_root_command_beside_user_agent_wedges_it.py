"""Attack 29 (exam29a), on e66bbf1: the agent runs as its own user (the unit's `User=shipper`), and an operator runs a
shipper command that takes the state_dir's lock as root on the same config — `sudo shipper reset -c
/etc/shipper/shipper.yaml --source app` without stopping the service first, or `sudo shipper run …` to look at what it
ships. The lock's holder judgement takes the running agent (another user's) for no shipper, and the root command
replaces `shipper.lock` with a new file of its own (root's, 0600) before SQLite's lock refuses it (`database is locked;
nothing was removed`, or for `run` `… check that the file and the state_dir are writable …`, not `in use by another
shipper (pid N)`). The running agent takes its replaced lock file for a removed state_dir, cannot make it again (the
new lock file is root's): `checkpoint commit failed; reading paused, retrying … the state_dir was removed under the
running agent and cannot be made again … (Permission denied)` — no state_dir was removed — and ships nothing more, for
good; its stop exits 1 (`stopping: cannot save the state …`), and every later start of the service is refused
(`cannot write to the state_dir (Permission denied)`) until someone removes the root-owned lock file by hand. 2 of 2
by hand with `run`, 1 of 1 with `reset`; 1 of 1 each in the test. What should hold: a command that finds the
state_dir's lock held by a shipper (of any user) refuses, naming it, and leaves the lock file as it is; the running
agent ships on."""
from __future__ import annotations

import os
import site
import subprocess
import sys
from pathlib import Path

import pytest

from tests.journal_sinks import SHIPPER, followed_log, numbered
from tests.other_user_locks import passable_folder
from tests.support import stop_process, wait

pytestmark = pytest.mark.slow  # (an agent of another user, and 30 s for it to ship on)

SERVICE_UID = 65534  # nobody: the service's own user, as `shipper` is under the unit


def _interpreter_for(uid: int) -> str:
    """A Python of this one's version that `uid` can run (the venv's own may sit under root's 0700 home): the agent of
    another user runs this project from it, through a sitecustomize that adds the venv's site-packages."""
    want = f"{sys.version_info[0]}.{sys.version_info[1]}"
    for candidate in (os.path.realpath(sys.executable), f"/usr/bin/python{want}", "/usr/bin/python3",
                      f"/usr/local/bin/python{want}"):
        probe = subprocess.run(["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", candidate, "-I", "-c",
                                # run again from itself: setpriv's own exec may still pass root's 0700 home
                                "import subprocess, sys; subprocess.run([sys.executable, '-I', '-c', "
                                "\"import sys; print('%d.%d' % sys.version_info[:2])\"])"],
                               capture_output=True, text=True, timeout=60)
        if probe.returncode == 0 and probe.stdout.strip() == want:
            return candidate
    raise AssertionError(f"no Python {want} that uid {uid} can run (the test needs one)")


@pytest.mark.parametrize("command", [["reset", "--source", "app"], ["run", "--once"]])
def test_a_root_command_beside_the_service_users_agent_leaves_it_shipping(command: list[str]) -> None:
    # a folder the service's user can pass through, as /var/lib (pytest's tmp_path is under a 0700 folder of root's)
    with passable_folder("attack29-rootcmd-") as tmp_path:
        _attack(tmp_path, command)


def _attack(tmp_path: Path, command: list[str]) -> None:
    python = _interpreter_for(SERVICE_UID)
    custom = tmp_path / "sitecustomize"
    custom.mkdir()
    (custom / "sitecustomize.py").write_text(
        "import site\n" + "".join(f"site.addsitedir({p!r})\n" for p in site.getsitepackages()))
    cfg, log = followed_log(tmp_path, 50, shutdown_timeout=5)
    state = tmp_path / "state"
    state.mkdir()
    os.chown(state, SERVICE_UID, SERVICE_UID)  # StateDirectory=shipper: the service user's
    out, err = tmp_path / "out.jsonl", tmp_path / "err.log"
    env = {**os.environ, "PYTHONPATH": str(custom)}
    with open(out, "wb") as o, open(err, "wb") as e:
        agent = subprocess.Popen(["setpriv", f"--reuid={SERVICE_UID}", f"--regid={SERVICE_UID}", "--clear-groups",
                                  python, "-m", "shipper.cli", "run", "-c", str(cfg)], stdout=o, stderr=e, env=env)
    try:
        assert wait(lambda: len(out.read_bytes().splitlines()) == 50, 60), err.read_text()[-2000:]
        assert (state / "shipper.lock").stat().st_uid == SERVICE_UID
        # the operator, as root, on the same config while the service runs
        other = subprocess.run([SHIPPER, *command, "-c", str(cfg)], capture_output=True, text=True, timeout=120,
                               cwd=tmp_path)
        assert other.returncode == 2, other.stderr[-2000:]  # refused: the agent runs (it is, on main too)
        with open(log, "a") as f:
            f.write(numbered(50, 100))
        shipped_on = wait(lambda: len(out.read_bytes().splitlines()) >= 100, 30)
        journal = err.read_text()
        assert "removed under the running agent" not in journal, journal[-2000:]
        assert shipped_on, f"the agent shipped {len(out.read_bytes().splitlines())} of 100 lines:\n{journal[-2000:]}"
        assert (state / "shipper.lock").stat().st_uid == SERVICE_UID, "the lock file was replaced by root's"
    finally:
        stop_process(agent)
