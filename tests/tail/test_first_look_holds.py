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

from shipper.tail.holder import Holder
from tests.support import stop_process, wait, wait_until
from tests.tail.attack_agent import Agent, append_numbered, exactly_once, numbered
from tests.tail.conftest import Follower
from tests.tail.test_files import write

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


@pytest.mark.slow
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


def test_the_live_file_rotated_after_the_watch_and_before_the_look_listed_it_is_no_history(tmp_path: Path) -> None:
    """The holder watches before the look; the look lists the folder later (10,000 files: a second or more
    between the glob's listing and the listing of the rotated names, then a stat of each). The live file
    rotated in between is listed under its rotated name: taken for history, its lines were skipped without a
    word. The holder caught it renamed from the live name, so it was the live file after the watch: read
    whole, as the live file is. The backup shifted by the same rotation (app.log.1 to app.log.2) is still
    history."""
    d = tmp_path / "logs"
    d.mkdir()
    log = d / "app.log"
    write(d / "app.log.1", *[f"history {i}" for i in range(3)])
    write(log, *[f"line {i}" for i in range(5)])
    f = Follower([d / "*.log"], d)
    h = Holder()
    assert h.start()
    f.tailer.holder = h
    try:
        h.watch_more({str(log)}, {str(d)}, lambda p: p.endswith(".log"))
        with h.paused():  # (the events are handled as the block ends)
            os.rename(d / "app.log.1", d / "app.log.2")  # logrotate `create`, `rotate 2`
            os.rename(log, d / "app.log.1")
            write(log, *[f"line {i}" for i in range(5, 7)])
        assert h.holding((os.stat(d / "app.log.1").st_dev, os.stat(d / "app.log.1").st_ino)) is not None
        f.poll(2)
        assert sorted(f.lines()) == sorted(f"line {i}".encode() for i in range(7))
        assert f.tailer.losses == 0
    finally:
        f.tailer.close()
        h.stop()
