"""The refusal of a state_dir's lock names its holder as /proc shows it here, not only the pid written in the lock file,
and `run` and `reset` say it in the same words (fix13's leftovers, session 29): a container's agent first and the host's
second was `in use by another shipper (pid 1)` — the pid the container's agent wrote, which on the host is init; a
backup holding the lock where the pid written is alive again (another process) was that process, a running shipper;
and `reset` said `in use by a running shipper (pid N)` for both."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.journal_sinks import SHIPPER, folder_config, numbered
from tests.support import stop_process, wait


def _config(folder: Path, state_dir: Path, logs: Path) -> Path:
    folder.mkdir()
    return folder_config(folder, logs, state_dir=str(state_dir), shutdown_timeout=5)


def _children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return [int(p) for p in f.read().split()]


def test_a_container_agent_first_is_named_by_its_pid_here(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "a.log").write_text(numbered(0, 20))
    state, mount_point = tmp_path / "state", tmp_path / "container-state"
    state.mkdir()
    mount_point.mkdir()
    out = tmp_path / "out.jsonl"
    with open(out, "wb") as o:  # the container's agent: a pid and mount namespace of its own, the state_dir bind-mounted
        container = subprocess.Popen(
            # (--kill-child: the agent inside, pid 1 there, ends with unshare; else it outlived the test)
            ["unshare", "--mount", "--propagation", "private", "--pid", "--fork", "--kill-child=SIGTERM", "--mount-proc",
             "sh", "-c",
             'mount --bind "$0" "$1" && exec "$2" run -c "$3"', str(state), str(mount_point), SHIPPER,
             str(_config(tmp_path / "container", mount_point, logs))], stdout=o, stderr=subprocess.DEVNULL)
    agent = None
    try:
        assert wait(lambda: out.read_bytes().count(b"\n") == 20, 60), "the container's agent did not ship"
        assert (state / "shipper.lock").read_text().strip() == "1"  # its pid there
        agent = _children(container.pid)[0]  # the same process, seen from here
        cfg = _config(tmp_path / "host", state, logs)
        run = subprocess.run([SHIPPER, "run", "--once", "-c", str(cfg)], capture_output=True, text=True, timeout=120)
        reset = subprocess.run([SHIPPER, "reset", "--source", "app", "-c", str(cfg)], capture_output=True, text=True,
                               timeout=120)
        assert container.poll() is None
        for done in (run, reset):
            assert done.returncode == 2 and not done.stdout, done
            assert "(pid 1)" not in done.stderr and "ended" not in done.stderr, done.stderr
            assert f"in use by another shipper (pid {agent}, pid 1 in its own pid namespace" in done.stderr, \
                done.stderr
        assert reset.stderr.endswith("stop it first; nothing was removed\n"), reset.stderr
        # status names it so too, and shows the positions of its snapshot (written under its own pid, 1)
        assert wait(lambda: (state / "checkpoints.snapshot.json").exists(), 30)
        status = subprocess.run([SHIPPER, "status", "-c", str(cfg)], capture_output=True, text=True, timeout=120)
        assert status.returncode == 0, status.stderr
        assert f"daemon: running (pid {agent}, pid 1 in its own pid namespace" in status.stdout, status.stdout
        assert "saved positions: from the running agent's snapshot" in status.stdout, status.stdout
    finally:
        stop_process(container)
        if agent is not None:
            assert wait(lambda: not os.path.exists(f"/proc/{agent}"), 60), "the container's agent outlived unshare"


def test_a_backup_holding_the_lock_is_named_though_the_pid_written_runs_again(tmp_path: Path) -> None:
    """The pid the last run wrote is alive again (given to another process): the refusal named it a running shipper,
    `reset` `in use by a running shipper (pid N)`; the lock's holder is the backup, named as `run` names it when the pid
    written is gone."""
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "a.log").write_text(numbered(0, 5))
    state = tmp_path / "state"
    cfg = _config(tmp_path / "agent", state, logs)
    first = subprocess.run([SHIPPER, "run", "--once", "-c", str(cfg)], capture_output=True, timeout=120)
    assert first.returncode == 0, first.stderr.decode()[-400:]
    other = subprocess.Popen(["sleep", "300"])  # the pid written, given again to a process that is no shipper
    (state / "shipper.lock").write_text(f"{other.pid}\n")
    holder = subprocess.Popen(  # the operator's backup, as root: `flock shipper.lock <backup>` holds it while it copies
        ["flock", str(state / "shipper.lock"), "sh", "-c", "echo holding; exec sleep 300"], stdout=subprocess.PIPE,
        text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        run = subprocess.run([SHIPPER, "run", "--once", "-c", str(cfg)], capture_output=True, text=True, timeout=120)
        reset = subprocess.run([SHIPPER, "reset", "--source", "app", "-c", str(cfg)], capture_output=True, text=True,
                               timeout=120)
        for done in (run, reset):
            assert done.returncode == 2, done
            assert f"held by pid {holder.pid} (user" in done.stderr, done.stderr
            assert f"pid {other.pid}" not in done.stderr and "running shipper" not in done.stderr, done.stderr
        assert reset.stderr.endswith("; nothing was removed\n"), reset.stderr
    finally:
        stop_process(holder)
        other.kill()
        other.wait()
    assert os.path.exists(state / "checkpoints.sqlite")
