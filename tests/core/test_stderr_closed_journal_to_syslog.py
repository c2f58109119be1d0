"""`shipper run` started with its standard error closed (`2>&-`; exam24d noticed, session 24): it exited 1 without a
word (faulthandler refused to start: Python has no sys.stderr), and descriptor 2 was free for the next file opened.

Now (shipper/journal_syslog.py, docs/operations.md "Standard error closed"): descriptor 2 is given /dev/null and the
journal goes to the syslog socket, the first line saying why; with no syslog socket to take it the agent refuses to
start, exit 2, the reason in the kernel's log. The syslog socket here is a real datagram socket the test binds
(SHIPPER_SYSLOG_SOCKET); the kernel's log is a file bind-mounted over /dev/kmsg in a mount namespace of the agent's own
(unshare), so the host's log is not written."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

SHIPPER = str(Path(sys.executable).with_name("shipper"))
EVENTS = 50


def _config(tmp_path: Path) -> Path:
    log = tmp_path / "app.log"
    log.write_text("".join(json.dumps({"n": i}) + "\n" for i in range(EVENTS)))
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(json.dumps({"state_dir": str(tmp_path / "state"),
                               "sources": [{"name": "app", "type": "file", "paths": [str(log)], "parser": "json"}],
                               "outputs": [{"type": "stdout"}]}))
    return cfg


def _received(sock: socket.socket) -> list[str]:
    got = []
    while True:
        try:
            got.append(sock.recv(65536).decode())
        except BlockingIOError:
            return got


def test_stderr_closed_the_journal_goes_to_syslog_and_the_run_ships(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    path = tmp_path / "syslog.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as syslog:
        syslog.bind(str(path))
        syslog.setblocking(False)
        syslog.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        runs = []
        for _ in range(2):  # the second run finds the checkpoints the first saved: nothing again
            runs.append(subprocess.run(["sh", "-c", 'exec "$@" 2>&-', "sh", SHIPPER, "run", "--once", "-c", str(cfg)],
                                       capture_output=True, timeout=120,
                                       env={**os.environ, "SHIPPER_SYSLOG_SOCKET": str(path)}))
        got = _received(syslog)
    assert [r.returncode for r in runs] == [0, 0], (runs, got)
    assert [json.loads(ln)["generic"]["n"] for ln in runs[0].stdout.splitlines()] == list(range(EVENTS)), got
    assert runs[1].stdout == b"", got
    first = [m for m in got if "standard error is closed" in m]
    assert len(first) == 2 and first[0] == got[0], got
    assert first[0].startswith("<28>shipper[") and f"the journal goes to syslog ({path})" in first[0], got
    summaries = [m for m in got if "run --once: read" in m]
    assert len(summaries) == 2 and "shipped 50" in summaries[0] and summaries[0].startswith("<29>"), got
    assert all(m.startswith("<") for m in got), got


def test_stderr_closed_and_no_syslog_refuses_to_start_exit_2_saying_why(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    kmsg = tmp_path / "kmsg"
    kmsg.write_text("")
    script = 'mount --bind "$0" /dev/kmsg && exec "$@" 2>&-'
    run = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script, str(kmsg), SHIPPER,
                          "run", "--once", "-c", str(cfg)], capture_output=True, timeout=120,
                         env={**os.environ, "SHIPPER_SYSLOG_SOCKET": str(tmp_path / "none.sock")})
    said = kmsg.read_text()
    assert run.returncode == 2, (run, said)
    assert run.stdout == b"", run.stdout[:200]  # nothing shipped: refused before anything was read
    assert said.startswith("<3>shipper: standard error is closed (2>&-)") and "none.sock" in said, said
    assert "2>/dev/null" in said, said
    assert not (tmp_path / "state").exists()
