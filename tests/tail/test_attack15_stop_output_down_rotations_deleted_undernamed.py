"""A stop with the output down names only part of what the rotations made while it was behind and
deleted while it was stopped.

docs/operations.md ("A reload", on stops): "A stop that leaves batches undelivered also saves, for each file
first read in that run whose position no delivered batch saved yet (with an output down, the files a
rotation brought since), its state at the position it was found at: deleted before the next start, its
bytes are named lost then"; issue 13: a file that appeared and vanished unread while the agent was stopped
is a counted, warned loss, never silent. Found by attack23 (session 17), from the docs alone: the only
output (Fluentd) is down; app.log is rotated (Log4j 1.2 style, 2 backups) three times while the source is
held back, 700 lines a file; SIGTERM; two more rotations while the agent is stopped delete the files; the
agent starts with the output back. Scratch runs: 243,480-325,380 bytes lost, 149,880-202,530 named (a file
the rotations brought, never read, not named at all; a partly read one named short of its size), 5 of 5.
Fixed (undernamed13): the stop identifies the files the holder holds that no scan took, and saves each file
with the size it has then (tests/tail/test_stop_output_down_unread_rotated.py, the deterministic cases).
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.peers.forward_server import ForwardServer
from tests.tail import seq_log


def _rotate(logs: Path) -> None:
    """Log4j 1.2's RollingFileAppender with MaxBackupIndex=2."""
    if (logs / "app.log.2").exists():
        os.unlink(logs / "app.log.2")
    if (logs / "app.log.1").exists():
        os.rename(logs / "app.log.1", logs / "app.log.2")
    os.rename(logs / "app.log", logs / "app.log.1")


@pytest.mark.slow
def test_stop_with_output_down_names_every_byte_rotations_delete_while_stopped(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    app = logs / "app.log"
    per = 700
    seq_log.write(app, range(0, per))
    server = ForwardServer().start()
    port = server.port
    server.stop()  # down: connections refused
    cfg, err = tmp_path / "shipper.yaml", tmp_path / "agent.err"
    seq_log.config(cfg, tmp_path, port, [str(app)])
    journal = lambda: err.read_text(errors="replace")  # noqa: E731
    proc = None
    try:
        with err.open("ab") as e:
            proc = subprocess.Popen([seq_log.SHIPPER, "run", "-c", str(cfg)], stdout=subprocess.DEVNULL, stderr=e)
        assert seq_log.wait(lambda: "msg=started" in journal() and "fluentd delivery failed" in journal()), journal()
        for k in range(1, 4):  # the source is held back (backpressure); the third rotation deletes the first file
            _rotate(logs)
            seq_log.write(app, range(per * k, per * k + per))
            time.sleep(0.3)
        time.sleep(1)  # let the agent see the last rotation
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 1, journal()  # batches undelivered
        for k in range(4, 6):  # stopped: two more rotations delete the second and third files
            _rotate(logs)
            seq_log.write(app, range(per * k, per * k + per))
        server.start()
        with err.open("ab") as e:
            proc = subprocess.Popen([seq_log.SHIPPER, "run", "-c", str(cfg)], stdout=subprocess.DEVNULL, stderr=e)
        assert seq_log.wait(lambda: set(range(per * 3, per * 6)) <= seq_log.seqs(server)), journal()  # what is left, read
        time.sleep(2)  # let anything still in hand arrive
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        server.stop()
    lost = seq_log.nbytes(set(range(0, per * 6)) - seq_log.seqs(server))
    named = sum(int(m) for m in re.findall(r"bytes_lost=(\d+)", journal()))
    assert lost > 0, "nothing lost: the scenario did not happen"
    assert named == lost, f"{lost} bytes lost, {named} named:\n{journal()}"
