"""Black-box attack 4: `shipper run | consumer` with the consumer stopped (SIGSTOP, a full disk behind it, a
hung pager): stdout blocks in write(). docs/operations.md promises that a stop then ends within
shutdown_timeout + 5 s (exit 1, the undelivered batches read again next start). With parse workers busy on a
backlog (the default `parse_workers: auto` does that after 3 full batches) the stop took ~25 s more: each
worker was given 5 s to read its end and 5 s more to exit while blocked writing a result nobody read, and its
pipe was closed under its sender thread (the traceback). Fixed in shipper.parse_workers._Worker.close: a worker
not ended within a second is killed (nothing it parsed was registered), the pipe closed once the sender is out."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support import wait_until

pytestmark = pytest.mark.slow


def test_stop_with_stdout_blocked_and_parse_workers_ends_in_time(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "a.log").write_text("".join(json.dumps({"seq": i, "m": "x" * 200}) + "\n" for i in range(20000)))
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(f"""
state_dir: {tmp_path}/state
shutdown_timeout: 1
sources:
  - name: app
    type: file
    paths: ["{logs}/*.log"]
    parser: json
    parse_workers: 2
outputs:
  - type: stdout
""")
    r, w = os.pipe()  # nobody reads r: the consumer is stopped
    err = open(tmp_path / "err", "wb")
    try:
        try:
            proc = subprocess.Popen([sys.executable, "-m", "shipper.cli", "run", "-c", str(cfg)], stdout=w, stderr=err)
        finally:
            os.close(w)
            err.close()
        # Started and stdout blocked: on a loaded machine the start alone took more than the 8 s this waited
        # before, and the SIGTERM came before the agent had read a line (exit 0, not this stop). Blocked is a
        # thread asleep in write(1, ...): the bytes in the pipe (FIONREAD) do not tell: a full pipe holds less
        # than its size when writes leave its pages part-filled (60,818 of 65,536 bytes seen, the writer blocked).
        wait_until(lambda: proc.poll() is not None or (
            "msg=started" in (tmp_path / "err").read_text() and writing_to_stdout(proc.pid)),
            120, "the agent started and blocked writing to its stdout")
        assert proc.poll() is None, (tmp_path / "err").read_text()
        time.sleep(5)  # the workers work through the backlog until backpressure stops them
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(120)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        took = time.monotonic() - t0
    finally:
        os.close(r)
    log = (tmp_path / "err").read_text()
    assert rc == 1, log[-2000:]
    assert took < 15, f"stop took {took:.0f} s (shutdown_timeout 1 + 5 promised)"
    assert "Traceback" not in log, log[-3000:]


def writing_to_stdout(pid: int) -> bool:
    """A thread of pid asleep in write(1, ...) (/proc/PID/task/TID/syscall: number 1, first argument 0x1)."""
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:  # it ended: the caller's poll() says so
        return False
    for task in tasks:
        try:
            call = (task / "syscall").read_text().split()
            state = (task / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:  # the thread ended meanwhile
            continue
        if state == "S" and call[:2] == ["1", "0x1"]:
            return True
    return False
