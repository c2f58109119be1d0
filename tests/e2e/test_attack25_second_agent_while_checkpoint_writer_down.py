"""Attack 25 (exam25d, issue 13: "two agents on one state_dir (no duplicates)"): the state_dir's lock is held by the
checkpoint writer process, not by the agent. Kill that process (the OOM killer, an operator's `kill -9` of the
"second python") until the agent gives up replacing it (docs/operations.md: "Writers that keep dying within a minute
of their start are replaced after 1 s, 2 s, 4 s; the fifth in a row is the last … reading stays paused … until the
agent is restarted"), and the state_dir has no lock at all while the agent still runs: a second `shipper run` on that
state_dir (the same path, or the folder reached through a bind mount) starts, says nothing of the first, and ships
from the last saved checkpoint what the first had already delivered. The first agent's next commit then fails
`in use by another shipper (pid N)` (a warning), and its stop says checkpoints could not be saved.

docs/operations.md ("Checkpoint database"): "One agent owns a state_dir at a time: … a second `shipper run` on the same
state_dir exits 2 with `in use by another shipper (pid N)`"; the abstract socket named after the state_dir is held by
the writer too (`ss -xlp`: its pid). Found by hand 2 of 2 (after 4 kills, the 4 s before the fifth writer: through a
bind mount 3,200 of 4,300 lines twice, the same path 200 twice), the Fluentd peer.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.fluentd_agent import SHIPPER, stored, write_lines
from tests.fs_faults import unmount
from tests.peers.forward_server import ForwardServer
from tests.support import free_port, stop_process, wait, wait_until

pytestmark = pytest.mark.slow  # (two agents, ~15 s of writer restarts: handed out first)


def _writer_of(pid: int) -> int | None:
    """The agent's checkpoint writer: its child running checkpoint_db."""
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    for child in found:
        try:
            if "checkpoint_db" in Path(f"/proc/{child}/cmdline").read_text():
                return int(child)
        except OSError:
            continue
    return None


def _config(tmp_path: Path, name: str, state_dir: Path, log: Path, port: int) -> Path:
    cfg = tmp_path / name
    cfg.write_text(json.dumps({
        "state_dir": str(state_dir), "shutdown_timeout": 3,
        "sources": [{"name": "app", "type": "file", "paths": [str(log)], "parser": "json"}],
        "outputs": [{"type": "fluentd", "host": "127.0.0.1", "port": port, "flush_interval": 0.2}]}))
    return cfg


@pytest.mark.parametrize("path", ["same", "bind_mount"])
def test_a_second_agent_is_refused_while_the_first_has_no_checkpoint_writer(tmp_path: Path, path: str) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    state = tmp_path / "a" / "state"
    second_state = state
    if path == "bind_mount":
        subprocess.run(["mount", "--bind", str(tmp_path / "a"), str(tmp_path / "b")], check=True)
        second_state = tmp_path / "b" / "state"
    log = tmp_path / "app.log"
    write_lines(log, "a", 0, 1000)
    peer = ForwardServer(port=free_port()).start()
    first = subprocess.Popen([SHIPPER, "run", "-c", str(_config(tmp_path, "first.yaml", state, log, peer.port))],
                             stdout=subprocess.DEVNULL, stderr=open(tmp_path / "first.err", "w"))
    second: subprocess.Popen | None = None
    try:
        wait_until(lambda: len(stored(peer)) >= 1000, 60, "the first agent's lines delivered")
        killed: list[int] = []
        for k in range(5):  # replaced at once, after 1 s, 2 s, 4 s; the fifth death is the last
            wait_until(lambda: _writer_of(first.pid) not in (None, *killed), 30, f"checkpoint writer {k + 1}")
            writer = _writer_of(first.pid)
            assert writer is not None and writer not in killed, (writer, killed)  # a new process each time
            os.kill(writer, signal.SIGKILL)
            killed.append(writer)
            if k < 4:
                time.sleep(0.5)
                write_lines(log, "a", 1000 + 100 * k, 100)  # delivered by the first agent, checkpoints unsaved
        wait(lambda: "no new one is started" in (tmp_path / "first.err").read_text(), 15)
        assert first.poll() is None, "the first agent ended"
        second = subprocess.Popen(
            [SHIPPER, "run", "-c", str(_config(tmp_path, "second.yaml", second_state, log, peer.port))],
            stdout=subprocess.DEVNULL, stderr=open(tmp_path / "second.err", "w"))
        wait(lambda: second.poll() is not None, 20)  # refused within seconds, or running
        refused = second.poll()
        write_lines(log, "a", 2000, 500)
        time.sleep(5.0)
    finally:
        if second is not None:
            stop_process(second, 30)
        stop_process(first, 30)
        peer.stop()
        if path == "bind_mount":
            unmount(tmp_path / "b")  # a lazy one if something still holds a file there
    counts = stored(peer)
    repeated = sum(v - 1 for v in counts.values() if v > 1)
    assert refused == 2 and "in use by another shipper" in (tmp_path / "second.err").read_text() and not repeated, (
        f"the second agent on the first's state_dir: exit {refused}, {repeated} lines stored twice; "
        f"it said: {(tmp_path / 'second.err').read_text()[-300:]}")
