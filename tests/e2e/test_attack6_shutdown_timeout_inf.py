"""Black-box attack 6 (operator): `shutdown_timeout: .inf`, an operator's "take as long as delivery
takes" (the key only says ">= 0"; `check` accepts it). Every event is delivered, then SIGTERM: the stop
ends in a traceback (`OverflowError: timestamp out of range for platform time_t`) and exit code 1, which
says batches were left undelivered (systemd shows the stop as failed) when none were. Also with 1e10;
1e9 stops cleanly. Reproduced 3 times by hand, and by this test. The promise (docs/operations.md, stop):
saves the checkpoints and exits 0, or 1 when batches were left undelivered; a config error exits 2."""
from __future__ import annotations

import subprocess
import sys

import pytest

from tests.e2e.ops_attack import OpsAgent, app_to_stdout, counts
from tests.support import wait_until

pytestmark = pytest.mark.slow


def test_infinite_shutdown_timeout_is_refused_or_stops_cleanly(tmp_path):
    cfg = app_to_stdout(tmp_path, 40, "shutdown_timeout: .inf\n")
    check = subprocess.run([sys.executable, "-m", "shipper.cli", "check", "-c", str(cfg)],
                           capture_output=True, text=True, timeout=120)
    if check.returncode == 2:  # refused as a config error: it must name the file and the key
        assert cfg.name in check.stderr and "shutdown_timeout" in check.stderr, check.stderr
        return
    agent = OpsAgent(tmp_path)
    agent.start(cfg)
    try:
        wait_until(lambda: len(agent.seqs()) >= 40 or agent.proc.poll() is not None, 90, "the 40 lines")
    finally:
        rc = agent.stop()
    missing, repeated = counts(agent.seqs(), range(1, 41))
    assert not missing and not repeated
    assert rc == 0 and "Traceback" not in agent.errors(), f"stop exit {rc}: {agent.errors()[-500:]}"
