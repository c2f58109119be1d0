"""Examiner attack 16 (session 18, issues 13 and 21): a log folder that appears while the reader is held back.

The holder opens rotated files "the moment they appear", so that a log rotating past its last backup while the
output is down loses nothing (README, "Following files through rotation"; docs/design.md, "No rotated file escapes
a running agent": "New files the globs match are held too (their folder is watched)"). A folder the globs reach
that appears during the outage is not watched: a new folder under a wildcard glob (`logs/*/app.log`), or the log
folder replaced as deploys do (renamed and made again, a symlinked release folder swapped). The files its log
makes and deletes meanwhile are neither held nor counted: their lines are lost without a word.

Found by driving the real agent with the strict Fluentd peer as its only output (`batch_size: 10`, so the reader
is held back after ~100 lines): 260 of 1,460 lines lost in every run (5 of 5 over the three shapes, and with a
`**` glob), 0 "data lost" warnings; without the new folder (the same rotations in the watched one) 0 lost.
Fixed (session 18): the holder watches where such a folder can appear (discovery.FolderGlobs) and watches, then
lists, one that appears (Holder._appear_locked); rotated files from before its watch are a loss named.
"""
from __future__ import annotations

import json
import os
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


def _line(seq: int) -> str:
    return json.dumps({"seq": seq, "msg": "x" * 60}) + "\n"


class _Writer:
    def __init__(self) -> None:
        self.seq = 0

    def write(self, folder: Path, n: int) -> None:
        with open(folder / "app.log", "a") as f:
            for _ in range(n):
                f.write(_line(self.seq))
                self.seq += 1

    def rotate(self, folder: Path) -> None:  # Log4j 1.2 with MaxBackupIndex=1: app.log.1 is deleted by the rename
        os.rename(folder / "app.log", folder / "app.log.1")


def _delivered(peer: ForwardServer) -> Counter:
    return Counter(rec["generic"]["seq"] for _, _, rec in list(peer.records))


def _wait_settled(peer: ForwardServer, want: int, timeout: float = 60.0, quiet: float = 6.0) -> None:
    """Until every line arrived, or nothing more arrived for `quiet` seconds (at most `timeout`)."""
    deadline = time.monotonic() + timeout
    last, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        n = len(peer.records)
        if len(_delivered(peer)) >= want:
            return
        if n != last:
            last, since = n, time.monotonic()
        elif time.monotonic() - since > quiet:
            return
        time.sleep(0.2)


@pytest.mark.parametrize("shape", ["wildcard_new_folder", "folder_renamed_and_made_again", "symlink_swapped"])
def test_rotations_in_a_folder_that_appeared_during_an_outage_are_held_or_named(tmp_path, shape):
    root = tmp_path
    if shape == "wildcard_new_folder":
        glob = root / "logs" / "*" / "app.log"
        first, second = root / "logs" / "n1", root / "logs" / "n2"
    elif shape == "folder_renamed_and_made_again":
        glob = root / "logs" / "app.log"
        first = second = root / "logs"
    else:
        glob = root / "current" / "logs" / "app.log"
        first, second = root / "rel1" / "logs", root / "rel2" / "logs"
        os.symlink("rel1", root / "current")
    first.mkdir(parents=True)
    peer = ForwardServer().start()
    port = peer.port
    cfg = root / "cfg.yaml"
    cfg.write_text(
        f"state_dir: {root / 'state'}\nshutdown_timeout: 5\n"
        "sources:\n  - name: app\n    type: file\n"
        f"    paths: [{json.dumps(str(glob))}]\n    parser: json\n    batch_size: 10\n"
        "outputs:\n  - type: fluentd\n    name: fwd\n    host: 127.0.0.1\n"
        f"    port: {port}\n    flush_interval: 0.2\n    backoff_max: 1\n")
    journal = root / "journal.log"
    w = _Writer()
    w.write(first, 100)
    with open(journal, "wb") as err:
        agent = subprocess.Popen([SHIPPER, "run", "-c", str(cfg)], stdout=subprocess.DEVNULL, stderr=err)
    try:
        deadline = time.monotonic() + 60
        while len(_delivered(peer)) < 100 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(_delivered(peer)) == 100, journal.read_text()
        peer.stop()  # the output is down: the reader is held back after ~100 lines
        w.write(first, 1000)
        time.sleep(1)
        if shape == "folder_renamed_and_made_again":
            os.rename(first, root / "logs.old")
        second.mkdir(parents=True)
        w.write(second, 10)
        if shape == "symlink_swapped":
            subprocess.run(["ln", "-sfn", "rel2", str(root / "current")], check=True)
        time.sleep(1)
        for _ in range(6):  # six rotations past the one backup while the output is still down
            w.write(second, 50)
            w.rotate(second)
            time.sleep(0.3)
        w.write(second, 50)
        time.sleep(2)
        peer.start()  # same port
        _wait_settled(peer, w.seq)
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait(timeout=60)
        peer.stop()
    got = _delivered(peer)
    text = journal.read_text()
    assert not [s for s, k in got.items() if k > 1], "lines delivered twice"
    lost = [s for s in range(w.seq) if s not in got]
    named = [ln for ln in text.splitlines() if "data lost" in ln and str(second / "app.log") in ln]
    assert not lost or named, f"{len(lost)} of {w.seq} lines lost ({lost[0]}-{lost[-1]}), none named:\n{text}"


def test_rotations_in_a_folder_made_while_frozen_are_named(tmp_path):
    root = tmp_path
    first, second = root / "logs" / "n1", root / "logs" / "n2"
    first.mkdir(parents=True)
    peer = ForwardServer().start()
    cfg = root / "cfg.yaml"
    cfg.write_text(
        f"state_dir: {root / 'state'}\nshutdown_timeout: 5\n"
        "sources:\n  - name: app\n    type: file\n"
        f"    paths: [{json.dumps(str(root / 'logs' / '*' / 'app.log'))}]\n    parser: json\n"
        "outputs:\n  - type: fluentd\n    name: fwd\n    host: 127.0.0.1\n"
        f"    port: {peer.port}\n    flush_interval: 0.2\n")
    journal = root / "journal.log"
    w = _Writer()
    w.write(first, 100)
    with open(journal, "wb") as err:
        agent = subprocess.Popen([SHIPPER, "run", "-c", str(cfg)], stdout=subprocess.DEVNULL, stderr=err)
    try:
        assert peer.wait_for_records(100, timeout=60), journal.read_text()
        agent.send_signal(signal.SIGSTOP)
        try:
            second.mkdir()
            for _ in range(4):  # three files made and deleted (renamed over) while the agent is frozen
                w.write(second, 50)
                w.rotate(second)
            w.write(second, 50)
        finally:
            agent.send_signal(signal.SIGCONT)
        _wait_settled(peer, w.seq, timeout=40)
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait(timeout=60)
        peer.stop()
    got = _delivered(peer)
    text = journal.read_text()
    assert not [s for s, k in got.items() if k > 1], "lines delivered twice"
    lost = [s for s in range(w.seq) if s not in got]
    named = [ln for ln in text.splitlines() if "data lost" in ln and str(second / "app.log") in ln]
    assert not lost or named, f"{len(lost)} of {w.seq} lines lost ({lost[0]}-{lost[-1]}), none named:\n{text}"
