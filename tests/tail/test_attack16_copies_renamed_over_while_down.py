"""Examiner attack 16 (session 18, issues 13 and 21): a log replaced by copies of itself while the output is down.

A log pulled by `rsync -a` (each pull: a copy of the grown file beside it, renamed over it) is read on from where
the reading was when the output is up ("was replaced by a copy of itself holding what was read (a sync tool's rename
over it): read on from there"). While the output is down the reader is held back and the holder holds each copy
as it appears: once the output is back, every copy is read from its start. Nothing warns of it (docs/operations.md:
a repeat is warned and counted, never silent).

Found with the real agent and the strict Fluentd peer (`batch_size: 10`): 100 lines read, Fluentd down, 10 pulls
1 s (or 0.3 s) apart each bringing 200 more lines, Fluentd back: 1,900 of 2,100 lines shipped 2-6 times (9,600
extra records), 3 of 3 runs, no warning.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.peers.forward_server import ForwardServer

pytestmark = pytest.mark.slow

SHIPPER = str(Path(sys.executable).parent / "shipper")


def test_copies_renamed_over_the_log_during_an_outage_are_not_read_again(tmp_path):
    remote, logs = tmp_path / "remote", tmp_path / "logs"
    remote.mkdir()
    logs.mkdir()
    seq, pulls = 0, 0

    def write(n: int) -> None:
        nonlocal seq
        with open(remote / "app.log", "a") as f:
            for _ in range(n):
                f.write(json.dumps({"seq": seq, "msg": "x" * 60}) + "\n")
                seq += 1

    def pull() -> None:  # rsync -a: a copy beside the file, renamed over it
        nonlocal pulls
        pulls += 1
        tmp = logs / f".app.log.{pulls:06d}"
        shutil.copyfile(remote / "app.log", tmp)
        os.rename(tmp, logs / "app.log")

    write(100)
    pull()
    peer = ForwardServer().start()
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(
        f"state_dir: {tmp_path / 'state'}\nshutdown_timeout: 5\n"
        "sources:\n  - name: app\n    type: file\n"
        f"    paths: [{json.dumps(str(logs / 'app.log'))}]\n    parser: json\n    batch_size: 10\n"
        "outputs:\n  - type: fluentd\n    name: fwd\n    host: 127.0.0.1\n"
        f"    port: {peer.port}\n    flush_interval: 0.2\n    backoff_max: 1\n")
    journal = tmp_path / "journal.log"
    with open(journal, "wb") as err:
        agent = subprocess.Popen([SHIPPER, "run", "-c", str(cfg)], stdout=subprocess.DEVNULL, stderr=err)
    try:
        assert peer.wait_for_records(100, timeout=60), journal.read_text()
        peer.stop()
        for _ in range(5):
            write(200)
            pull()
            time.sleep(1)
        time.sleep(1)
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
    got = Counter(r["generic"]["seq"] for _, _, r in peer.records)
    text = journal.read_text()
    assert sorted(got) == list(range(seq)), f"lines missing:\n{text}"
    twice = [s for s, k in got.items() if k > 1]
    warned = [ln for ln in text.splitlines() if "again" in ln and "app.log" in ln and "level=warning" in ln]
    assert not twice or warned, (
        f"{len(twice)} of {seq} lines shipped more than once ({sum(got.values()) - seq} extra), unwarned:\n{text}")
