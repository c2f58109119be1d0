"""Black-box attack 4: the state_dir is removed under a running agent (`rm -rf /var/lib/shipper` by an operator
who thought the service stopped, a tmpfiles cleaner on a state_dir under /tmp or /var/tmp). The running agent
keeps "saving" its checkpoints into a deleted database and says nothing, and its lock went with the folder: a
second agent on the same state_dir starts and ships every line again. Issue 13 promises one agent per state_dir
(a second exits 2 naming the holder), so no line twice without a word."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from tests.support import wait
from tests.tail.attack_agent import Agent, exactly_once, numbered

pytestmark = pytest.mark.slow


def write(path, lo: int, hi: int) -> None:
    with open(path, "a") as f:
        f.write("".join(numbered(i) for i in range(lo, hi)))


def test_state_dir_removed_under_a_running_agent_is_not_a_silent_second_copy(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    write(logs / "app.log", 0, 100)
    first = Agent(tmp_path, [f"{logs}/app.log*"])
    first.start()
    second = Agent(tmp_path, [f"{logs}/app.log*"])  # the same config and state_dir
    second.runs = 10  # its output files apart from the first's
    try:
        assert first.wait_delivered(range(100))
        shutil.rmtree(tmp_path / "state")
        write(logs / "app.log", 100, 200)
        assert first.wait_delivered(range(200))
        time.sleep(3)
        second.runs += 1
        out = open(tmp_path / f"out{second.runs}.jsonl", "wb")
        err = open(tmp_path / f"out{second.runs}.err", "wb")
        second.proc = subprocess.Popen([sys.executable, "-m", "shipper.cli", "run", "-c", str(second.cfg)],
                                       stdout=out, stderr=err)
        out.close()
        err.close()
        try:
            second.proc.wait(15)  # refused at once, as on a state_dir whose lock is held
        except subprocess.TimeoutExpired:
            pass
    finally:
        if second.proc is not None and second.proc.poll() is None:
            second.stop()
        assert first.stop() == 0
    assert exactly_once(first.seqs(), range(200)) == ""
    shipped_again = [json.loads(line) for line in (tmp_path / f"out{second.runs}.jsonl").read_bytes().splitlines()]
    said = [line for line in first.errors().splitlines() if "level=warning" in line or "level=error" in line]
    # The first agent made its state_dir again (lock first, then its checkpoints) and said so; the
    # second is refused as on any state_dir in use, and ships nothing.
    assert second.proc.returncode == 2 and not shipped_again, (
        f"second agent exited {second.proc.returncode} having shipped {len(shipped_again)} lines again")
    assert any("state_dir was removed" in line for line in said), said
    assert (tmp_path / "state" / "checkpoints.sqlite").exists()


def test_a_second_agent_started_before_the_first_notices_the_removal_is_refused(tmp_path):
    """The first agent notices a removed state_dir within a second (its main loop's check) and makes it again
    with its lock; a second agent started within that second found no lock and shipped everything again. Here
    the first is held (SIGSTOP of its main process; its checkpoint writer runs on) until the second has ended."""
    logs = tmp_path / "logs"
    logs.mkdir()
    write(logs / "app.log", 0, 100)
    first = Agent(tmp_path, [f"{logs}/app.log*"])
    second_cfg = tmp_path / "second.yaml"  # the same state_dir and sources, without the first's http port
    second_cfg.write_text("".join(line for line in first.cfg.read_text().splitlines(True) if "http:" not in line))
    first.start()
    try:
        assert first.wait_delivered(range(100))
        os.kill(first.proc.pid, signal.SIGSTOP)
        second = None
        try:
            shutil.rmtree(tmp_path / "state")
            with open(tmp_path / "second.jsonl", "wb") as out, open(tmp_path / "second.err", "wb") as errs:
                second = subprocess.Popen([sys.executable, "-m", "shipper.cli", "run", "-c", str(second_cfg)],
                                          stdout=out, stderr=errs)
            # Refused at once; or (the fault) it runs and ships the first's lines again.
            wait(lambda: second.poll() is not None or (tmp_path / "second.jsonl").stat().st_size, 120)
        finally:
            if second is not None and second.poll() is None:
                second.kill()
                second.wait(60)
            os.kill(first.proc.pid, signal.SIGCONT)
        write(logs / "app.log", 100, 200)
        assert first.wait_delivered(range(200))
    finally:
        assert first.stop() == 0
    err = (tmp_path / "second.err").read_text()
    shipped_again = (tmp_path / "second.jsonl").read_bytes().count(b"\n")
    assert second.returncode == 2 and not shipped_again, f"exit {second.returncode}, {shipped_again} lines again: {err}"
    assert f"in use by another shipper (pid {first.proc.pid})" in err, err
    assert exactly_once(first.seqs(), range(200)) == ""
    assert any("state_dir was removed" in line for line in first.errors().splitlines()), first.errors()
