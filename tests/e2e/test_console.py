"""`run --once` on a terminal: the progress bar and the log lines share one console (a log line is
never written into the bar's line), and the run ends with its summary line."""
from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import orjson

from tests.e2e.test_daemon import free_port

REPO = Path(__file__).resolve().parents[2]
ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]")


def _run_on_a_terminal(args: list[str], timeout: float = 120) -> tuple[int, bytes]:
    master, slave = pty.openpty()
    env = {**os.environ, "COLUMNS": "120", "TERM": "xterm"}
    env.pop("JOURNAL_STREAM", None)
    proc = subprocess.Popen([sys.executable, "-m", "shipper.cli", *args], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=slave, cwd=str(REPO), env=env)
    os.close(slave)
    out = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r, _, _ = select.select([master], [], [], 0.2)
        if r:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed its end
                break
            if not chunk:
                break
            out += chunk
        elif proc.poll() is not None:
            break
    os.close(master)
    return proc.wait(timeout=30), out


def test_bar_and_logs_share_one_console_and_summary_ends_the_run(tmp_path):
    log = tmp_path / "a.log"
    log.write_bytes(b"".join(orjson.dumps({"n": n}) + b"\n" for n in range(3000)))
    cfg = tmp_path / "shipper.yaml"
    cfg.write_text(f"state_dir: {tmp_path}/state\nshutdown_timeout: 1\n"
                   f"sources:\n  - {{name: a, type: file, parser: json, paths: [{log}]}}\n"
                   f"outputs:\n  - {{type: fluentd, host: 127.0.0.1, port: {free_port()}}}\n")
    code, out = _run_on_a_terminal(["run", "--once", "--timeout", "4", "-c", str(cfg)])
    assert code == 1, out.decode(errors="replace")  # nothing could be delivered
    text = ANSI.sub(b"", out).replace(b"\r\n", b"\n")
    assert b"shipping" in text, "the bar was shown"
    log_lines = 0
    for line in text.split(b"\n"):
        at = line.find(b"level=")
        if at < 0:
            continue
        log_lines += 1
        # What a terminal shows: the text after the last carriage return.
        shown = line.split(b"\r")[-1]
        assert shown.startswith(b"level="), f"a log line written into the bar's line: {line!r}"
    assert log_lines >= 2, text.decode(errors="replace")
    summary = [l for l in text.split(b"\n") if l.split(b"\r")[-1].startswith(b"run --once: read ")]
    assert len(summary) == 1, text.decode(errors="replace")
    assert re.match(rb"run --once: read 3000 events, shipped 0, failed 0 \(dead-lettered\), duplicates avoided 0, "
                    rb"0 bytes lost, \d+\.\d s$", summary[0].split(b"\r")[-1]), summary
