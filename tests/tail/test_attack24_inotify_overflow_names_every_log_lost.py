"""Attack 24 (issue 23, idle: an inotify queue overflow): files that do not match the source's glob, created and
deleted in its folder while the agent is frozen, overflow inotify's queue; the agent then names every log it follows
as having lost a rotated file, though none rotated.

Issue 23 asks what an overflow does to an idle agent (does it poll forever, or lose a line?). It loses no line and
goes back to idle; but the journal lies. Found (exam24l, 2026-12-07): an agent following 10 (50, 200) quiet `*.log`
files, stopped (SIGSTOP: a frozen cgroup, a paused VM, a starved host) while 20,000 `*.tmp` files are created and
deleted beside them, then continued: besides the honest `data lost: … (possible loss): inotify's event queue
overflowed, so files created and deleted in … meanwhile may have gone unread`, it warns for each followed log
`data lost: an unknown number of bytes of …/f00.log were in 1 rotated file(s) that appeared and were gone before they
could be held (rotations faster than the agent could open them …)`, and `shipper_losses_total` counts 11 for the 10
files: 10 of 10, 50 of 50, 200 of 200 in three runs. Nothing rotated; only files the glob does not match came and
went. Without the freeze, the same flood (no overflow) said nothing. Fixed: an overflow marks no family escaped (the
holder cannot know which lost a file); its folders are named a possible loss.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.support import stop_process, wait_until

pytestmark = pytest.mark.slow  # (an agent, writers and waits of many seconds: handed out first)

SHIPPER = [sys.executable, "-m", "shipper.cli"]
FILES = 10
FALSE_LOSS = "rotated file(s) that appeared and were gone"


def _queue_limit() -> int:
    with open("/proc/sys/fs/inotify/max_queued_events") as f:
        return int(f.read())


def test_an_overflow_of_unmatched_files_names_no_log_a_lost_rotation(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    for i in range(FILES):
        (logs / f"f{i:02d}.log").write_text(json.dumps({"f": i}) + "\n")
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(json.dumps({  # JSON is YAML
        "state_dir": str(tmp_path / "state"),
        "sources": [{"name": "q", "type": "file", "paths": [str(logs / "*.log")], "parser": "json",
                     "read_from": "beginning"}],
        "outputs": [{"type": "stdout"}]}))
    out, journal = tmp_path / "out.jsonl", tmp_path / "agent.err"
    with open(out, "wb") as o, open(journal, "wb") as e:
        agent = subprocess.Popen(SHIPPER + ["run", "-c", str(cfg)], stdout=o, stderr=e)
    try:
        wait_until(lambda: len(out.read_bytes().splitlines()) >= FILES, 120, "every file read")
        time.sleep(1)
        agent.send_signal(signal.SIGSTOP)
        try:
            # One event a create at least: more creates than the queue holds overflow it.
            flood = _queue_limit() + 2000
            for k in range(flood):
                open(logs / f"t{k}.tmp", "w").close()
            for k in range(flood):
                os.unlink(logs / f"t{k}.tmp")
        finally:
            agent.send_signal(signal.SIGCONT)
        wait_until(lambda: b"overflowed" in journal.read_bytes(), 60, "the overflow named")
        time.sleep(3)  # what the first scan after it says
    finally:
        assert stop_process(agent, 60) == 0, journal.read_text()
    text = journal.read_text()
    assert len(out.read_bytes().splitlines()) == FILES  # nothing lost, nothing read twice
    false = [ln for ln in text.splitlines() if FALSE_LOSS in ln]
    assert not false, f"{len(false)} of {FILES} logs named lost though none rotated: {false[0]}"
