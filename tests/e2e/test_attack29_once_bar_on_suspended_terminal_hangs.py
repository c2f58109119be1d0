"""Attack 29 (exam29a), on e66bbf1: 914b0a6 writes the journal on a terminal through a non-blocking descriptor with a
bounded backlog, so that a terminal suspended by Ctrl-S (XOFF) or behind a stalled ssh link never stops the agent — but
`shipper run --once` on a terminal shows a progress bar, and what the bar draws (and the log lines it shows above
itself) still waits in the terminal's write. `shipper run --once -c … > audit.jsonl` typed in a terminal whose output
the operator suspended (Ctrl-S, by accident or to read): nothing is shipped in 40 s (0 of 400,000 lines; `shipper run`
without --once, on the same terminal, ships all in 10 s), and a SIGTERM does not end it in 20 s (shutdown_timeout
5); Ctrl-Q lets it go on. Suspended only once it ships (Ctrl-S 2 s in), it ships everything and then never ends: 10 s
after its last line, one SIGTERM does not end it in 20 s, and a second exits 1 though all was delivered. 2 of 2 by
hand before the start, 2 of 2 mid-run. What should hold: the bar never holds `--once` (nor its stop), as the journal
on that terminal no longer does."""
from __future__ import annotations

import json
import os
import pty
import signal
import subprocess
from pathlib import Path

import pytest

from tests.journal_sinks import SHIPPER, numbered
from tests.support import wait

pytestmark = pytest.mark.slow  # (waits of 40-60 s)


def test_run_once_on_a_suspended_terminal_ships_and_ends(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "a.log").write_text(numbered(0, 2000))
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(json.dumps({"state_dir": str(tmp_path / "state"), "shutdown_timeout": 5,
                               "sources": [{"name": "app", "type": "file", "paths": [str(logs / "*.log")],
                                            "parser": "json"}],
                               "outputs": [{"type": "stdout"}]}))
    out = tmp_path / "out.jsonl"
    master, terminal = pty.openpty()  # a terminal with its usual settings (IXON: Ctrl-S suspends its output)
    os.write(master, b"\x13")  # Ctrl-S: the terminal's output is suspended from the start
    env = {**os.environ, "TERM": "xterm", "COLUMNS": "120"}
    with open(out, "wb") as o:
        agent = subprocess.Popen([SHIPPER, "run", "--once", "-c", str(cfg)], stdout=o, stderr=terminal, env=env,
                                 start_new_session=True)
    os.close(terminal)
    try:
        ended = wait(lambda: agent.poll() is not None, 60)
        shipped = out.read_bytes().count(b"\n")
        stopped_by_sigterm = None
        if not ended:
            agent.send_signal(signal.SIGTERM)
            stopped_by_sigterm = wait(lambda: agent.poll() is not None, 20)
        assert ended and agent.returncode == 0, (
            f"run --once did not end in 60 s with its terminal suspended: {shipped} of 2000 lines shipped; "
            f"a SIGTERM then {'ended' if stopped_by_sigterm else 'did not end'} it in 20 s (shutdown_timeout 5)")
        assert shipped == 2000
    finally:
        os.write(master, b"\x11")  # Ctrl-Q, so that what it waits in ends
        if agent.poll() is None:
            agent.kill()
        agent.wait()
        os.close(master)
