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
import subprocess
from pathlib import Path

from tests.journal_sinks import SHIPPER, bound_syslog, numbered, own_kmsg, received, stderr_closed

EVENTS = 50


def _config(tmp_path: Path) -> Path:
    log = tmp_path / "app.log"
    log.write_text(numbered(0, EVENTS))
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(json.dumps({"state_dir": str(tmp_path / "state"),
                               "sources": [{"name": "app", "type": "file", "paths": [str(log)], "parser": "json"}],
                               "outputs": [{"type": "stdout"}]}))
    return cfg



def test_stderr_closed_the_journal_goes_to_syslog_and_the_run_ships(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    path = tmp_path / "syslog.sock"
    with bound_syslog(path) as syslog:
        runs = []
        for _ in range(2):  # the second run finds the checkpoints the first saved: nothing again
            runs.append(subprocess.run(stderr_closed([SHIPPER, "run", "--once", "-c", str(cfg)]),
                                       capture_output=True, timeout=120,
                                       env={**os.environ, "SHIPPER_SYSLOG_SOCKET": str(path)}))
        got = received(syslog)
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
    run = subprocess.run(own_kmsg(kmsg, [SHIPPER, "run", "--once", "-c", str(cfg)], close_stderr=True), capture_output=True, timeout=120,
                         env={**os.environ, "SHIPPER_SYSLOG_SOCKET": str(tmp_path / "none.sock")})
    said = kmsg.read_text()
    assert run.returncode == 2, (run, said)
    assert run.stdout == b"", run.stdout[:200]  # nothing shipped: refused before anything was read
    assert said.startswith("<3>shipper: standard error is closed (2>&-)") and "none.sock" in said, said
    assert "2>/dev/null" in said, said
    assert not (tmp_path / "state").exists()
