"""Examiner attack 16 (session 18, issues 13 and 21): a reload lowers the hold budget while the holder holds many
deleted files.

docs/operations.md: "a deleted one that the lowered budget refuses is named at the restart, `data lost: N bytes of
app.log were never read: K rotated file(s) of it were deleted while the agent held them open, and the reload
lowered the hold budget …`". With the output down and the log rotated 10 times past its 2 backups, the holder holds
~8 deleted files; a SIGHUP setting `hold_max_bytes: 1000` (or `hold_max_files: 1`) lets them go. One file (the one
the source had open) is named with its bytes; the others, which the holder held for seconds and whose sizes it
knew, are said to be "rotated file(s) that appeared and were gone before they could be held", "an unknown number
of bytes": the wrong cause and no size. 1,417,340 bytes lost, 503,840 named (hold_max_bytes; hold_max_files:
1,286,840 lost, 503,840 named); the same in the held-files-fill-the-disk wedge when a reload lowers the budget
(11.6 MB lost, 375,500 named). 3 of 3 runs.

Fixed (lead, session 18): Holder.trim returns the deleted files it held by itself and lets go; FileSource.take_over
names them with the refused ones (their unread bytes from their saved states, else from their start).
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.peers.forward_server import ForwardServer

pytestmark = pytest.mark.slow

SHIPPER = str(Path(sys.executable).parent / "shipper")


def _line(seq: int) -> bytes:
    return (json.dumps({"seq": seq, "msg": "x" * 400}) + "\n").encode()


def test_a_lowered_budget_names_every_held_file_it_lets_go_with_its_bytes(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    peer = ForwardServer().start()
    cfg = tmp_path / "cfg.yaml"

    def config(extra: str) -> None:
        tmp = cfg.with_suffix(".tmp")
        tmp.write_text(
            f"state_dir: {tmp_path / 'state'}\nshutdown_timeout: 5\n"
            "sources:\n  - name: app\n    type: file\n"
            f"    paths: [{json.dumps(str(logs / 'app.log'))}]\n    parser: json\n    batch_size: 10\n{extra}"
            "outputs:\n  - type: fluentd\n    name: fwd\n    host: 127.0.0.1\n"
            f"    port: {peer.port}\n    flush_interval: 0.2\n    backoff_max: 1\n")
        os.rename(tmp, cfg)

    seq = 0

    def write(n: int) -> None:
        nonlocal seq
        with open(logs / "app.log", "ab") as f:
            for _ in range(n):
                f.write(_line(seq))
                seq += 1

    def rotate() -> None:  # Log4j 1.2, MaxBackupIndex=2
        if (logs / "app.log.1").exists():
            os.rename(logs / "app.log.1", logs / "app.log.2")
        os.rename(logs / "app.log", logs / "app.log.1")

    config("")
    write(100)
    journal = tmp_path / "journal.log"
    with open(journal, "wb") as err:
        agent = subprocess.Popen([SHIPPER, "run", "-c", str(cfg)], stdout=subprocess.DEVNULL, stderr=err)
    try:
        assert peer.wait_for_records(100, timeout=60), journal.read_text()
        peer.stop()
        write(1000)
        time.sleep(1)
        for _ in range(10):
            write(300)
            rotate()
            time.sleep(0.2)
        write(50)
        time.sleep(2)
        config("    hold_max_bytes: 1000\n")
        agent.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 30
        while "msg=reloaded" not in journal.read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
        peer.start()  # same port
        last, since = -1, time.monotonic()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and time.monotonic() - since < 6:  # until nothing more arrives
            if len(peer.records) != last:
                last, since = len(peer.records), time.monotonic()
            time.sleep(0.2)
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait(timeout=60)
        peer.stop()
    got = {r["generic"]["seq"] for _, _, r in peer.records}
    lost_bytes = sum(len(_line(s)) for s in range(seq) if s not in got)
    text = journal.read_text()
    named = sum(int(m) for m in re.findall(r"bytes_lost=(\d+)", text))
    assert named >= lost_bytes, f"{lost_bytes} bytes lost, {named} named:\n{text}"
