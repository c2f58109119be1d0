"""Black-box attack 30 (exam30a, issue 13: while the agent runs, no file escapes it; what escapes is counted and
warned). README: files are "opened the moment they appear by a thread that never waits on the output, and held
(`hold_max_files`, `hold_max_bytes`) …; what escapes (budget full, agent frozen) is a warned loss naming the file";
`hold_max_files`: "a quarter of them kept for rotated names: new files and a new live file take the rest". With the
default budget, stdout's reader stalls (backpressure stops reading); new files appear in the followed folder and are
deleted before the reader goes on.

Found (by hand, 3 of 3: 1,500 files twice, 50 once; 20 lines each): the holder holds the first 192 (its budget for new
files says so when full, and each file past it is named `data lost: … created 1 time(s) and deleted … before it could
be opened`), but the held ones are never read: none of their lines is shipped 40, 60 or 150 s after the reader goes
on, the stop names nothing, and the next start reads nothing of them and names nothing (`0 bytes lost`). With 50
files (under the budget) not one line nor word. Sibling of test_attack30_hold_budget_zero_new_files_lost_unnamed.py,
where nothing is held.

Cause (session 30, the lead): each file's 20 lines are a.log's first 20, byte for byte; held at their live name and
deleted (rotated away), they were taken for copies of a.log (left alone, unnamed), where found alive they are read as
new. A file caught at its live name is now a copy only of its own family's files."""
from __future__ import annotations

import json
import os
import re
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

from tests.journal_sinks import SHIPPER, numbered
from tests.support import free_port, stop_process, wait

FILES = 50


def _losses(port: int) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        m = re.search(r'^shipper_losses_total\{source="app"\} ([0-9.e+]+)$', r.read().decode(), re.M)
    return float(m.group(1)) if m else 0.0


def _drain(fd: int, into: bytearray) -> None:
    try:
        while chunk := os.read(fd, 65536):
            into += chunk
    except OSError:
        pass


def test_new_files_held_while_held_back_are_read_or_named(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "a.log").write_text(numbered(0, 10))
    port = free_port()
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(json.dumps({"state_dir": str(tmp_path / "state"), "shutdown_timeout": 5,
                               "http": {"listen": f"127.0.0.1:{port}"},
                               "sources": [{"name": "app", "type": "file", "paths": [str(logs / "*.log")],
                                            "parser": "json", "poll_interval": 0.2}],
                               "outputs": [{"type": "stdout"}]}))
    out_read, out_write = os.pipe()
    err = tmp_path / "journal.txt"
    with open(err, "wb") as e:
        agent = subprocess.Popen([SHIPPER, "run", "-c", str(cfg)], stdout=out_write, stderr=e)
    os.close(out_write)
    shipped = bytearray()
    try:
        while shipped.count(b"\n") < 10:
            shipped += os.read(out_read, 65536)
        with open(logs / "a.log", "a") as f:  # more than stdout's pipe takes: the agent is held back from here
            f.write(numbered(10, 200_000))
        time.sleep(3)
        for i in range(FILES):
            (logs / f"f{i}.log").write_text(numbered(0, 20))
        time.sleep(1)
        for i in range(FILES):
            (logs / f"f{i}.log").unlink()
        time.sleep(2)
        threading.Thread(target=_drain, args=(out_read, shipped), daemon=True).start()  # the reader goes on
        assert wait(lambda: shipped.count(b"a.log") >= 199_990, 120), "a.log was not shipped"
        # a rescan (rescan_interval, 60 s by default) may be what finds them: room for one
        wait(lambda: _losses(port) >= 1 or len(re.findall(rb"logs/f[0-9]+\.log", bytes(shipped))) >= FILES * 20, 75,
             every=1)
        from_f = len(re.findall(rb"logs/f[0-9]+\.log", bytes(shipped)))
        losses = _losses(port)
        journal = err.read_text(errors="replace")
        named = [line for line in journal.splitlines() if "lost" in line]
        assert from_f == FILES * 20 or (named and losses >= 1), (
            f"{from_f} of {FILES * 20} lines of the deleted files shipped, shipper_losses_total {losses}, "
            f"{len(named)} loss lines: {journal[-600:]}")
    finally:
        stop_process(agent)
        os.close(out_read)
