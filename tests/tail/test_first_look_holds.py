"""A file rotated during the agent's first look is held, as one rotated while the agent runs is.

The first look over many files takes long (10,000 files: ~15 s under load): it lists them all, then
opens them one by one. The holder (shipper/tail/holder.py) watched the folders only after that look,
so a live file listed and rotated before the look opened it, then deleted by the next rotation, was
in no name and no descriptor: its lines were lost (named "never read", but lost). The agent is frozen
(SIGSTOP) once its look opens its first file, so the look is certainly under way, with app.log (the
newest file, opened last) listed and not opened yet; logrotate `create`, `rotate 1` rotates it then."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support import stop_process, wait, wait_until
from tests.tail.attack_agent import Agent, append_numbered, exactly_once, numbered

pytestmark = pytest.mark.slow

QUIET = 3000  # files of one line each, older than app.log (the look opens them first); below the descriptor budget
MORE_OPENS = 600  # the look's progress after which the holder had its chance to catch the rename


def _opened(pid: int, folder: Path) -> tuple[int, set[int]]:
    """How many files under `folder` the process has open now, and the inodes of all it has open."""
    n, inodes = 0, set()
    prefix = str(folder) + "/"
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return 0, set()
    for fd in fds:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            inodes.add(os.stat(f"/proc/{pid}/fd/{fd}").st_ino)
        except OSError:
            continue
        n += target.startswith(prefix)
    return n, inodes


def test_a_live_file_rotated_and_deleted_during_the_first_look_is_read_whole(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    old = time.time() - 3600
    for i in range(QUIET):
        p = logs / f"f{i:05d}.log"
        p.write_text(numbered(100000 + i))
        os.utime(p, (old, old))
    app = logs / "app.log"
    append_numbered(app, 0, 200)  # A: listed by the look, opened last
    a_ino = os.stat(app).st_ino
    agent = Agent(tmp_path, [logs / "*.log"])
    agent.runs = 1
    with open(tmp_path / "out1.jsonl", "wb") as out, open(tmp_path / "out1.err", "wb") as err:
        agent.proc = subprocess.Popen([sys.executable, "-m", "shipper.cli", "run", "-c", str(agent.cfg)],
                                      stdout=out, stderr=err)
    pid = agent.proc.pid
    try:
        wait_until(lambda: _opened(pid, logs)[0] >= 1 or agent.proc.poll() is not None, 120,
                   "the first look to open its first file")
        os.kill(pid, signal.SIGSTOP)
        try:
            opened, inodes = _opened(pid, logs)
            if a_ino in inodes or "msg=started" in agent.errors():
                pytest.fail("the look had opened app.log before the freeze: the schedule this test needs did not happen")
            app.rename(logs / "app.log.1")  # logrotate `create`: A is app.log.1, B the new live file
            append_numbered(app, 200, 300)
        finally:
            os.kill(pid, signal.SIGCONT)
        # The holder catches the rename at once, while the look goes on with the files it has left.
        wait(lambda: a_ino in _opened(pid, logs)[1] or _opened(pid, logs)[0] >= opened + MORE_OPENS, 60)
        os.kill(pid, signal.SIGSTOP)
        try:
            if "msg=started" in agent.errors():
                pytest.fail("the first look ended before the second rotation: the schedule this test needs did not happen")
            (logs / "app.log.1").unlink()  # the next rotation, `rotate 1`: A deleted, B is app.log.1, C the live file
            app.rename(logs / "app.log.1")
            append_numbered(app, 300, 400)
        finally:
            os.kill(pid, signal.SIGCONT)
        expected = set(range(400)) | set(range(100000, 100000 + QUIET))
        agent.wait_delivered(expected, 180)
        time.sleep(1)  # a margin for repeats, not the condition
        problem = exactly_once(agent.seqs(), expected)
        assert not problem, f"{problem}; the agent said:\n{agent.errors()[-3000:]}"
        assert "data lost" not in agent.errors(), agent.errors()[-3000:]
    finally:
        if agent.proc.poll() is None:
            os.kill(pid, signal.SIGCONT)
        stop_process(agent.proc)
