"""Another local user (uid 65534, nobody) holding a lock on the state_dir's files, as the lock and database attacks set
it up: a state_dir made by a first `run --once` in a folder others can pass through, then the file opened read-only by
that user — the lock taken at once, or the descriptor kept (past any chmod of the file) and the lock asked for when the
test says."""
from __future__ import annotations

import select
import shutil
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from tests.journal_sinks import SHIPPER, followed_log
from tests.support import stop_process, wait, wait_until

# The lock statements the user runs on its descriptor `fd`.
FLOCK_SHARED = "fcntl.flock(fd, fcntl.LOCK_SH)"
FLOCK_EXCLUSIVE = "fcntl.flock(fd, fcntl.LOCK_EX)"
READ_LOCK = "fcntl.lockf(fd, fcntl.LOCK_SH, 0, 0, 0)"  # a POSIX record lock, as SQLite's readers take

_AS_NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3", "-I", "-c"]


@contextmanager
def passable_folder(prefix: str) -> Iterator[Path]:
    """A folder others can pass through, as /var/lib or /srv (pytest's tmp_path is under a 0700 folder of root's),
    removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def shipped_once(folder: Path, lines: int = 5, **settings: object) -> tuple[Path, Path, Path]:
    """logs/a.log of `lines` JSON lines and an agent following it to stdout (journal_sinks.followed_log with
    `settings`), run once: its state_dir made, every line shipped. (cfg, state_dir, logs)."""
    cfg, log = followed_log(folder, lines, **settings)
    first = subprocess.run([SHIPPER, "run", "--once", "-c", str(cfg)], capture_output=True, timeout=120)
    assert first.returncode == 0 and first.stdout.count(b"\n") == lines, first.stderr.decode()[-800:]
    return cfg, folder / "state", log.parent


@contextmanager
def locked_by_nobody(path: Path, lock: str) -> Iterator[str]:
    """uid 65534 opens path read-only and runs `lock` on the descriptor at once; yields what it said: "locked", or
    "refused <error>" when the open or the lock failed. It holds the lock until the block ends (killed then)."""
    holder = subprocess.Popen(
        [*_AS_NOBODY, "import fcntl, os, sys, time\n"
                      f"try:\n    fd = os.open(sys.argv[1], os.O_RDONLY)\n    {lock}\n"
                      "    print('locked', flush=True)\nexcept OSError as e:\n    print('refused', e, flush=True)\n"
                      "time.sleep(120)", str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None
        yield holder.stdout.readline().strip()
    finally:
        holder.kill()
        holder.wait()


def start_while_locked_by_nobody(prefix: str, name: str, lock: str) -> tuple[str, subprocess.CompletedProcess]:
    """In a passable folder: a first run (shipped_once), then the state_dir's file `name` locked by uid 65534 at once
    (locked_by_nobody) and the agent started again (`run --once`): (what the locker said, that start)."""
    with passable_folder(prefix) as folder:
        cfg, state, _logs = shipped_once(folder)
        with locked_by_nobody(state / name, lock) as took:
            return took, subprocess.run([SHIPPER, "run", "--once", "-c", str(cfg)], capture_output=True, timeout=120)


class Waiter:
    """uid 65534's process holding a descriptor, asking for its lock when told (opened_by_nobody)."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.proc = proc

    def ask(self) -> None:
        """Runs the lock statement: the request waits while another holds the lock. Returns once the kernel has it
        (/proc/locks lists the process, waiting or holding)."""
        assert self.proc.stdin is not None
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()
        wait_until(lambda: str(self.proc.pid) in Path("/proc/locks").read_text().split(), 60,
                   "the lock request in /proc/locks")

    def holds(self, timeout: float = 60.0) -> bool:
        """Waits up to timeout seconds for the lock to be granted."""
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        return bool(ready) and self.proc.stdout.readline().strip() == "holding"


@contextmanager
def opened_by_nobody(path: Path, lock: str) -> Iterator[Waiter]:
    """uid 65534 opens path read-only now and keeps the descriptor, to run `lock` on it when asked (Waiter.ask).
    Killed when the block ends."""
    proc = subprocess.Popen(
        [*_AS_NOBODY, "import fcntl, os, sys, time\n"
                      "fd = os.open(sys.argv[1], os.O_RDONLY)\nprint('opened', flush=True)\nsys.stdin.readline()\n"
                      f"{lock}\nprint('holding', flush=True)\ntime.sleep(300)",
         str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "opened"
        yield Waiter(proc)
    finally:
        proc.kill()
        proc.wait()


def restart_with_a_lock_opened_before_the_chmod(folder: Path, lock: str) -> subprocess.CompletedProcess:
    """An earlier release's 0644 shipper.lock opened by uid 65534 while the agent is down; the upgraded agent starts
    (sets it 0600, takes its lock), the user asks for `lock` while the agent holds it, and the agent is restarted (a
    stop, then `run --once` once the user holds the lock): that start."""
    cfg, state, _logs = shipped_once(folder, shutdown_timeout=5)
    state.chmod(0o755)
    (state / "shipper.lock").chmod(0o644)  # as an earlier release left it
    agent = None
    with opened_by_nobody(state / "shipper.lock", lock) as waiter:
        try:
            with open(folder / "out.jsonl", "wb") as o:
                agent = subprocess.Popen([SHIPPER, "run", "-c", str(cfg)], stdout=o, stderr=subprocess.DEVNULL)
            assert wait(lambda: (state / "shipper.lock").stat().st_mode & 0o777 == 0o600, 60), "not set to 0600"
            assert wait(lambda: (state / "shipper.lock").read_text().strip() == str(agent.pid), 60), "no lock taken"
            waiter.ask()  # while the agent holds it
            assert agent.poll() is None, "the upgraded agent did not run"
            stop_process(agent, 30)  # the restart
            assert waiter.holds(), "the waiting lock was not granted at the stop"
            return subprocess.run([SHIPPER, "run", "--once", "-c", str(cfg)], capture_output=True, timeout=120)
        finally:
            if agent is not None and agent.poll() is None:
                stop_process(agent, 30)
