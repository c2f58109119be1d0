"""Records reach the journal at their priority; the watchdog's SIGABRT leaves a traceback.

systemd's side of the contract, as sd-daemon(3) and systemd.exec(5) give it: the service's stderr is
the journal stream named by JOURNAL_STREAM=<device>:<inode>; a line starting `<N>` is stored at
priority N. Here stderr is a file and JOURNAL_STREAM names it, exactly as systemd would."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

from tests.e2e.test_daemon import free_port
from tests.support import wait_until

REPO = Path(__file__).resolve().parents[2]


def _start(tmp_path: Path, journal: bool) -> tuple[subprocess.Popen, Path]:
    (tmp_path / "a.log").write_text('{"n": 1}\n')
    dead = free_port()  # nothing listens: the output fails and says so at warning
    cfg = tmp_path / "shipper.yaml"
    cfg.write_text(f"state_dir: {tmp_path}/state\n"
                   "shutdown_timeout: 1\n"
                   f"sources:\n  - {{name: a, type: file, parser: json, paths: [{tmp_path}/a.log]}}\n"
                   f"outputs:\n  - {{type: fluentd, host: 127.0.0.1, port: {dead}}}\n")
    err = tmp_path / "stderr"
    f = open(err, "wb")
    st = os.fstat(f.fileno())
    env = {k: v for k, v in os.environ.items() if k not in ("JOURNAL_STREAM", "NOTIFY_SOCKET")}
    if journal:
        env["JOURNAL_STREAM"] = f"{st.st_dev}:{st.st_ino}"
    proc = subprocess.Popen([sys.executable, "-m", "shipper.cli", "run", "-c", str(cfg)], stdout=subprocess.DEVNULL,
                            stderr=f, env=env, cwd=str(REPO))
    f.close()
    return proc, err


def test_priorities_and_sigabrt_traceback(tmp_path):
    proc, err = _start(tmp_path, journal=True)
    try:
        wait_until(lambda: "<4>" in err.read_text(), timeout=60, what="a warning line")
        lines = err.read_text().splitlines()
        for line in lines:
            m = re.match(r"<(\d)>level=(\w+) ", line)
            assert m, f"a line without its priority: {line!r}"
            assert {"debug": "7", "info": "6", "warning": "4", "error": "3"}[m[2]] == m[1], line
        assert any(line.startswith("<6>level=info") for line in lines)
        proc.send_signal(signal.SIGABRT)  # what systemd sends when WatchdogSec= runs out
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = err.read_text()
    assert proc.returncode == -signal.SIGABRT
    assert "Fatal Python error: Aborted" in text
    assert re.search(r'Thread 0x[0-9a-f]+ .*\n(  File ".*", line \d+ in \w+\n)+', text), text[-3000:]


def test_no_prefix_when_stderr_is_not_the_journal(tmp_path):
    proc, err = _start(tmp_path, journal=False)
    try:
        wait_until(lambda: "level=warning" in err.read_text(), timeout=60, what="a warning line")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert not any(line.startswith("<") for line in err.read_text().splitlines())
