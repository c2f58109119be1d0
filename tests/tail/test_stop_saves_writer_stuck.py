"""Issue 13 (session 19): a stop with the only output down saves the states of the files this run first read or found
and did not deliver (SourceRunner.save_unsaved_state), so that the next start names their bytes if they are deleted
while the agent is stopped. That save comes last in the stop, after the outputs' close; when it cannot be made (the
checkpoint writer stuck, as under a load that starves it or on a hung disk, past the stop's end; a full disk), the stop
said only that the store was given up ("what was delivered since the last saved checkpoint is read and sent again"),
and nothing of a file a rotation brought and the reader never read: deleted while the agent was stopped, its lines
went without a word at the next start (1 of 1 on the old code, the writer frozen from the SIGTERM on). Now the stop
names each file it could not save with its bytes.

The writer is frozen (SIGSTOP) for the whole stop, so that the store is given up at the stop's end: nothing of the
agent's timing decides the outcome. A real agent, a strict Fluentd peer kept down.
"""
from __future__ import annotations

import os
import re
import signal
from pathlib import Path

import pytest

from tests.fs_faults import wait_lock_free
from tests.support import wait_until
from tests.tail.attack_agent import append_numbered, numbered
from tests.tail.test_stop_output_down_unread_rotated import FIRST, PER, _rotate, _Run

pytestmark = pytest.mark.slow


def _writer_of(agent: int) -> int:
    """The pid of agent's checkpoint writer (a child running shipper/checkpoint_db.py)."""
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            ppid = int((p / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (p / "cmdline").read_bytes()
        except (OSError, ValueError):
            continue
        if ppid == agent and b"checkpoint_db" in cmdline:
            return int(p.name)
    raise AssertionError("no checkpoint writer")


def _state_of(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


@pytest.fixture
def run(tmp_path):
    r = _Run(tmp_path)
    yield r
    r.close()


def test_a_stop_that_cannot_save_names_each_unsaved_file_with_its_bytes(run, tmp_path):
    append_numbered(run.app, 0, FIRST)
    run.held_back()
    _rotate(run.logs)  # the file a rotation brings while the reader waits (the holder holds it by the stop): unread
    append_numbered(run.app, FIRST, FIRST + PER)
    assert run.proc is not None
    writer = _writer_of(run.proc.pid)
    os.kill(writer, signal.SIGSTOP)
    try:
        wait_until(lambda: _state_of(writer) == "T", 30, "the checkpoint writer stopped")
        assert run.stop() == 1, run.journal()  # batches undelivered
    finally:
        os.kill(writer, signal.SIGCONT)
    wait_lock_free(tmp_path / "state", 60)  # (the writer left behind ends by itself)
    journal = run.journal()
    # The scenario: the store given up at the stop, waiting for the database or for a commit in progress (the
    # holder's saver notes a file held by itself 0.25 s after it was held: its commit may be the one stuck).
    assert ("stopping without waiting any longer for the checkpoint database" in journal
            or "stopping without the checkpoint commit in progress" in journal), journal
    app = re.escape(str(run.app))
    first = sum(len(numbered(n)) for n in range(FIRST))
    said = re.search(r"cannot save the state of what this run first read and did not deliver.*", journal)
    assert said, journal
    # The never-read file, under the live name at the stop, and the first file (read in part, delivered to none).
    assert re.search(rf"{app} \({PER * len(numbered(FIRST))} bytes from offset 0\)", said[0]), said[0]
    assert re.search(rf"{app}\.1 \({first} bytes from offset 0\)", said[0]), said[0]
    assert f"bytes_at_risk={first + PER * len(numbered(FIRST))}" in said[0], said[0]
