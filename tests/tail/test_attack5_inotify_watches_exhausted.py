"""Black-box attack 5: another program of the agent's user has taken every inotify watch the kernel allows
the user (`fs.inotify.max_user_watches`, shared by all of the user's programs: an IDE, a file syncer, a
second agent with a `**` over a big tree). The agent gets its inotify instances but no watch: it follows the
files by polling and says nothing. Frozen meanwhile (SIGSTOP), a Log4j writer (MaxBackupIndex 2) rotates 30
times: 27 files, 135 lines, are lost with no warning and no count (2 runs of 2 by hand; the agent's inotify
descriptors held 0 watches). docs/operations.md: a source without inotify instances warns that it polls
and cannot hold rotated files; issue 13: what escapes is counted and warned, never silent.
The watches are taken by a process running as `nobody`, and the agent runs as `nobody` too, so that the
user whose limit is spent is no one else's (root's is shared with the rest of the test run)."""
from __future__ import annotations

import fcntl
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

from tests.tail.attack_agent import Agent, numbered

pytestmark = pytest.mark.slow

# Another user than root (inotify's limits are per user). CAP_DAC_READ_SEARCH is kept across exec (ambient):
# setpriv reaches a Python under a folder only root may enter (/root/.pyenv here) with root's capabilities,
# which the agent no longer has when it starts its checkpoint writer (sys.executable again): EACCES. It
# lets it read and search any folder; the watches and instances limits do not depend on it.
NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
          "--inh-caps=+dac_read_search", "--ambient-caps=+dac_read_search"]
PER_FILE, ROTATIONS, BACKUPS = 5, 30, 2

# Takes inotify watches until the kernel refuses one (ENOSPC): several instances watching the same files
# (a watch counts per instance and inode), then waits for its stdin to close.
HOG = textwrap.dedent("""
    import ctypes, os, sys
    libc = ctypes.CDLL(None, use_errno=True)
    names = [os.path.join(sys.argv[1], n).encode() for n in os.listdir(sys.argv[1])]
    taken = 0
    for _ in range(120):
        fd = libc.inotify_init1(os.O_CLOEXEC)
        if fd < 0:
            break
        for n in names:
            if libc.inotify_add_watch(fd, n, 2) < 0:  # IN_MODIFY
                break
            taken += 1
        else:
            continue
        break
    print(taken, ctypes.get_errno(), flush=True)
    sys.stdin.read()
""")


def frozen(proc) -> bool:
    with open(f"/proc/{proc.pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0] == "T"


def storm(log) -> list[list[int]]:
    """Log4j 1.2 rollovers (MaxBackupIndex 2): the lines of each file made, in order."""
    files, seq = [], 100
    for _ in range(ROTATIONS):
        with open(log, "a") as f:
            f.write("".join(numbered(i) for i in range(seq, seq + PER_FILE)))
        files.append(list(range(seq, seq + PER_FILE)))
        seq += PER_FILE
        if os.path.exists(f"{log}.{BACKUPS}"):
            os.unlink(f"{log}.{BACKUPS}")
        for i in range(BACKUPS - 1, 0, -1):
            if os.path.exists(f"{log}.{i}"):
                os.rename(f"{log}.{i}", f"{log}.{i + 1}")
        os.rename(log, f"{log}.1")
    return files


# `nobody`'s watches are the whole machine's: two runs of this test at once (two worktrees' suites) had the
# second hog get none (taken 0: the first held them all). Taken in turn, by a lock every run on the machine sees.
NOBODY_WATCHES_LOCK = "/tmp/shipper-tests-nobody-inotify-watches.lock"


def test_rotations_missed_without_inotify_watches_are_counted_or_warned():
    tmp_path = Path(tempfile.mkdtemp(prefix="watches"))  # pytest's tmp_path is root's alone (0700)
    with open(NOBODY_WATCHES_LOCK, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # (released when the file closes, or the run dies)
        try:
            rotations_missed_without_watches(tmp_path)
        finally:
            shutil.rmtree(tmp_path, ignore_errors=True)


def rotations_missed_without_watches(tmp_path: Path) -> None:
    os.chmod(tmp_path, 0o755)
    logs = tmp_path / "logs"
    logs.mkdir(mode=0o777)
    os.chmod(logs, 0o777)
    state = tmp_path / "state"
    state.mkdir()
    os.chown(state, 65534, 65534)
    spent = tmp_path / "spent"
    spent.mkdir()
    for k in range(1700):
        (spent / f"f{k}").touch()
    hog = subprocess.Popen(NOBODY + [sys.executable, "-c", HOG, str(spent)], stdin=subprocess.PIPE,
                           stdout=subprocess.PIPE, text=True)
    agent = None
    try:
        taken, errno = hog.stdout.readline().split()
        # ENOSPC: the user has no watch left (taken 0: another program of `nobody` holds them, not another run)
        assert int(taken) > 1000 and int(errno) == 28, (taken, errno)
        log = logs / "app.log"
        log.write_text("".join(numbered(i) for i in range(10)))
        agent = Agent(tmp_path, [log])
        agent.command_prefix = NOBODY
        agent.start()
        assert agent.wait_delivered(range(10))
        time.sleep(2)  # idle
        agent.proc.send_signal(signal.SIGSTOP)
        try:
            deadline = time.monotonic() + 30
            while not frozen(agent.proc):
                assert time.monotonic() < deadline
                time.sleep(0.01)
            files = storm(log)
            with open(log, "w") as f:
                f.write(numbered(1000))
        finally:
            agent.proc.send_signal(signal.SIGCONT)
        assert agent.wait_delivered([1000], timeout=40)

        def counted() -> int:
            return sum(int(n) for n in re.findall(r"were in (?:at most )?(\d+) ", agent.errors()))

        def warned_no_notification() -> bool:
            return any("inotify" in line or "notification" in line
                       for line in agent.errors().splitlines() if "level=warning" in line or "level=error" in line)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and counted() < ROTATIONS - BACKUPS - 1 and not warned_no_notification():
            time.sleep(0.2)
    finally:
        if agent is not None and agent.proc is not None:
            assert agent.stop() == 0
        hog.stdin.close()
        hog.wait(30)
    got = set(agent.seqs())
    unread = [fl for fl in files if not set(fl) <= got]
    assert unread  # frozen through 30 rotations, the agent could not read them all
    assert counted() >= len(unread) or warned_no_notification(), (len(unread), agent.errors()[-2000:])
