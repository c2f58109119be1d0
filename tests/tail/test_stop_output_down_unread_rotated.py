"""Issue 13: a stop with the only output down, the source held back (backpressure), names every byte that the
rotations made meanwhile and deleted while the agent was stopped (docs/operations.md, "A stop that leaves batches
undelivered also saves …"). The deterministic cases of tests/tail/test_attack15_stop_output_down_rotations_deleted_
undernamed.py (attack23, session 17: 243,480 bytes lost, 161,580 named, 5 of 5):

- a file a rotation brought while the reader was held back (created under the live name, held by the holder, never
  read, so never identified) was in nothing the stop saved: deleted while the agent was stopped, its lines went
  without a word. The stop now identifies it (letting_go.know_unread_at_stop) and saves it at its start.
- a file read in part and written to after that read was saved with the size its last read saw: deleted while
  stopped, it was named short of what it lost. The stop now saves the size it has then (Tailer.unsaved_states).
- a file rotated while the reader was held back (no scan saw it renamed) was saved under the live name, and named at
  the next start as the live file ("app.log … N bytes or more"); it is saved under the name it has at the stop.
- a file a rotation brought that the holder caught only under a rotated name (it was behind: two rotations before
  it opened the live name, which held the writer's next file by then) was not saved, as the stop took only the
  files held under the live name for files of this run: deleted while stopped, its lines went without a word (1 of 3
  runs of two rotations back to back, session 17). Made certain here by freezing the agent (SIGSTOP) through the
  rotations: the holder reads the events queued meanwhile when it goes on.

The reader is held back for sure: the first file holds 50 batches, more than the output's queue and the batches in
flight take (18), so it waits in a put from its first read on; "fluentd delivery failed" comes after that read.
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from tests.peers.forward_server import ForwardServer
from tests.support import stop_process, wait_until
from tests.tail.attack_agent import append_numbered, numbered

pytestmark = pytest.mark.slow

SHIPPER = str(Path(sys.executable).with_name("shipper"))
FIRST = 5000  # lines of the first file: 50 batches of 100, read in one read (200 KB < 1 MiB)
PER = 700  # lines of each file after it


def _rotate(logs: Path) -> None:
    """Log4j 1.2's RollingFileAppender with MaxBackupIndex=2."""
    if (logs / "app.log.2").exists():
        os.unlink(logs / "app.log.2")
    if (logs / "app.log.1").exists():
        os.rename(logs / "app.log.1", logs / "app.log.2")
    os.rename(logs / "app.log", logs / "app.log.1")


def _frozen(pid: int) -> bool:
    """Is every thread of process `pid` stopped (state T)?"""
    tasks = Path(f"/proc/{pid}/task")
    return all((t / "stat").read_text().rsplit(")", 1)[1].split()[0] == "T" for t in tasks.iterdir())


class _Run:
    """The agent over logs/app.log, its only output a Fluentd server down at the first start."""

    def __init__(self, tmp: Path) -> None:
        self.logs = tmp / "logs"
        self.logs.mkdir()
        self.app = self.logs / "app.log"
        self.server = ForwardServer()
        self.server.start()
        self.server.stop()  # down: connections refused
        self.cfg, self.err = tmp / "shipper.yaml", tmp / "agent.err"
        self.cfg.write_text(json.dumps({  # (JSON is YAML)
            "state_dir": str(tmp / "state"), "shutdown_timeout": 3,
            "sources": [{"name": "app", "type": "file", "paths": [str(self.app)], "parser": "json",
                         "read_from": "beginning", "batch_size": 100}],
            "outputs": [{"type": "fluentd", "name": "fwd", "host": "127.0.0.1", "port": self.server.port}]}))
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        with self.err.open("ab") as e:
            self.proc = subprocess.Popen([SHIPPER, "run", "-c", str(self.cfg)], stdout=subprocess.DEVNULL, stderr=e)

    def journal(self) -> str:
        return self.err.read_text(errors="replace")

    def seqs(self) -> Counter:
        return Counter(r["generic"]["seq"] for _, _, r in list(self.server.records) if "seq" in r.get("generic", {}))

    def held_back(self) -> None:
        """Started with the output down, the reader waiting in a put after reading the first file."""
        self.start()
        wait_until(lambda: "fluentd delivery failed" in self.journal(), 60, "the first delivery to fail")

    def rotations_while_frozen(self, n: int, next_seq: int) -> int:
        """`n` rotations (each followed by a new live file) with the agent frozen (SIGSTOP): its holder, behind them,
        opens each name only once the agent goes on, where a later file has it by then."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGSTOP)
        try:
            wait_until(lambda: _frozen(self.proc.pid), 30, "every thread of the agent stopped")  # (a signal takes a moment)
            next_seq = self.rotations_while_stopped(n, next_seq)
        finally:
            os.kill(self.proc.pid, signal.SIGCONT)
        return next_seq

    def stop(self) -> int | None:
        assert self.proc is not None
        return stop_process(self.proc, 60)

    def rotations_while_stopped(self, n: int, next_seq: int) -> int:
        for _ in range(n):
            _rotate(self.logs)
            append_numbered(self.app, next_seq, next_seq + PER)
            next_seq += PER
        return next_seq

    def restart_up(self, last_files: range) -> None:
        """Started again with the output back, until the lines of `last_files` arrived; then stopped."""
        self.server.start()
        self.start()
        wait_until(lambda: set(last_files) <= self.seqs().keys(), 120, f"the lines {last_files} delivered")
        assert self.stop() == 0, self.journal()

    def lost_and_named(self, written: int) -> tuple[int, int]:
        got = self.seqs().keys()
        lost = sum(len(numbered(n)) for n in range(written) if n not in got)
        return lost, sum(int(m) for m in re.findall(r"bytes_lost=(\d+)", self.journal()))

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.server.stop()


@pytest.fixture
def run(tmp_path):
    r = _Run(tmp_path)
    yield r
    r.close()


def test_a_file_a_rotation_brought_unread_and_deleted_while_stopped_is_named_with_its_size(run):
    append_numbered(run.app, 0, FIRST)
    run.held_back()
    _rotate(run.logs)  # the file a rotation brings while the reader waits (the holder holds it by the stop): unread
    append_numbered(run.app, FIRST, FIRST + PER)
    assert run.stop() == 1, run.journal()  # batches undelivered
    written = run.rotations_while_stopped(3, FIRST + PER)  # the first file and the unread one deleted
    run.restart_up(range(FIRST + PER, written))
    lost, named = run.lost_and_named(written)
    assert lost == sum(len(numbered(n)) for n in range(FIRST + PER)), "not the scenario: the two first files lost"
    assert named == lost, f"{lost} bytes lost, {named} named:\n{run.journal()}"
    app = re.escape(str(run.app))
    # Named with its size, the least lost: the live file at the stop, it may have been written to after it.
    assert re.search(rf"data lost: {PER * len(numbered(FIRST))} bytes or more of {app} were deleted", run.journal()), \
        run.journal()
    # The first file, rotated while the reader was held back (no scan saw it renamed), is named as what it was at the
    # stop, app.log.1, with its size (it was named as the live file, `app.log`, "N bytes or more").
    first = sum(len(numbered(n)) for n in range(FIRST))
    assert re.search(rf"data lost: {first} bytes of {app}\.1 did not reach every output", run.journal()), run.journal()


def test_a_file_unread_at_the_stop_still_there_at_the_start_is_read_once(run):
    append_numbered(run.app, 0, FIRST)
    run.held_back()
    _rotate(run.logs)
    append_numbered(run.app, FIRST, FIRST + PER)
    assert run.stop() == 1, run.journal()
    written = run.rotations_while_stopped(1, FIRST + PER)  # nothing deleted
    run.restart_up(range(0, written))
    repeated = {n: k for n, k in run.seqs().items() if k > 1}
    assert not repeated, f"{len(repeated)} lines delivered more than once"
    assert "data lost" not in run.journal(), run.journal()


def test_a_file_read_in_part_then_written_to_and_deleted_while_stopped_is_named_with_its_size(run):
    append_numbered(run.app, 0, FIRST)
    run.held_back()
    append_numbered(run.app, FIRST, FIRST + PER)  # written to after the read: the reader waits in a put
    assert run.stop() == 1, run.journal()
    written = run.rotations_while_stopped(3, FIRST + PER)  # it is deleted
    run.restart_up(range(FIRST + PER, written))
    lost, named = run.lost_and_named(written)
    assert lost == sum(len(numbered(n)) for n in range(FIRST + PER)), "not the scenario: the first file lost"
    assert named == lost, f"{lost} bytes lost, {named} named:\n{run.journal()}"


@pytest.mark.parametrize("rotations", [2, 3])
def test_files_the_holder_caught_only_under_a_rotated_name_deleted_while_stopped_are_named(run, rotations):
    """Two rotations while frozen: the writer's first new file is caught as app.log.1 (renamed from the live name),
    the live name holding the second by then. Three: it is caught only as app.log.2 (renamed from app.log.1), the first
    file deleted by the third. One rotation while stopped deletes it (at app.log.2 by then, or already there)."""
    append_numbered(run.app, 0, FIRST)
    run.held_back()
    written = run.rotations_while_frozen(rotations, FIRST)
    assert run.stop() == 1, run.journal()
    written = run.rotations_while_stopped(1 if rotations == 3 else 2, written)
    run.restart_up(range(FIRST + (rotations - 1) * PER, written))  # (the files after the one deleted)
    lost, named = run.lost_and_named(written)
    assert lost == sum(len(numbered(n)) for n in range(FIRST + PER)), "not the scenario: the two first files lost"
    assert named == lost, f"{lost} bytes lost, {named} named:\n{run.journal()}"
