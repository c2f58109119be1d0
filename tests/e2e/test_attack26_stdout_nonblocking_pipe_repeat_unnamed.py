"""Attack 26 (exam26d): `shipper run --once` whose stdout is a pipe left non-blocking (O_NONBLOCK on the open file
description it shares with an earlier program: Node.js sets it on its stdio, and it stays after node exits, as CI
logs full of `write error: Resource temporarily unavailable` show), and a reader busy for 15 s (a downstream step, a
slow disk). docs/operations.md ("stdout as an output"): a reader that reads slowly holds the output as a full pipe
does; `--once` gives up on ENOSPC/EIO after ~10 s; into a pipe, a stop that cuts a batch "names the lines of it the
reader already has, which are so written twice". Found by hand (1 of 1; 2 of 2 here): each full pipe answered EAGAIN,
taken for a failure; after 6 attempts (13 s) the run exited 1, `cannot write to stdout (Resource temporarily
unavailable) after 6 attempts; its events not written are read again next run`, and the 176 lines it had put in the
pipe (its reader read them all) were written again by the next run: 176 duplicates that no line named. (The same
pipe with a reader that never pauses crawled: 20,000 events took 207 s, a retry's backoff after each full pipe.)
Fixed: EAGAIN waits for room (poll), as a blocking write would."""
from __future__ import annotations

import collections
import fcntl
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # (a run that waits out its retries, and a second run)

SHIPPER = str(Path(sys.executable).with_name("shipper"))
EVENTS = 5000


def _run_once(cfg: Path, journal: Path, nonblocking: bool, pause: float) -> tuple[int, bytes]:
    read_end, write_end = os.pipe()
    if nonblocking:
        fcntl.fcntl(write_end, fcntl.F_SETFL, fcntl.fcntl(write_end, fcntl.F_GETFL) | os.O_NONBLOCK)
    with open(journal, "ab") as ef:
        agent = subprocess.Popen([SHIPPER, "run", "--once", "-c", str(cfg)], stdout=write_end, stderr=ef)
    os.close(write_end)
    try:
        time.sleep(pause)  # the reader is busy
        data = b""
        while chunk := os.read(read_end, 65536):
            data += chunk
        return agent.wait(120), data
    finally:
        os.close(read_end)
        if agent.poll() is None:
            agent.kill()
            agent.wait()


def test_a_nonblocking_pipe_reader_that_pauses_gets_no_unnamed_repeat(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_text("".join(json.dumps({"n": i, "message": "x" * 50}) + "\n" for i in range(EVENTS)))
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(json.dumps({"state_dir": str(tmp_path / "state"), "shutdown_timeout": 5,
                               "sources": [{"name": "app", "type": "file", "paths": [str(log)], "parser": "json"}],
                               "outputs": [{"type": "stdout"}]}))  # JSON is YAML
    journal = tmp_path / "agent.err"
    first_code, first = _run_once(cfg, journal, nonblocking=True, pause=15)
    second_code, second = _run_once(cfg, journal, nonblocking=False, pause=0)
    assert second_code == 0, journal.read_text()[-2000:]
    got = collections.Counter(json.loads(ln)["generic"]["n"] for ln in (first + second).split(b"\n")[:-1])
    assert set(got) == set(range(EVENTS)), "events missing"
    repeated = sum(n - 1 for n in got.values())
    said = journal.read_text()
    named = [ln for ln in said.splitlines() if "repeat" in ln]
    assert repeated == 0 or named, (f"first run exit {first_code}; {repeated} events written twice, named nowhere: "
                                    f"{[ln[:300] for ln in said.splitlines() if 'level=info' not in ln][:6]}")
