"""Black-box attack 6 (operator): a file source told to (almost) never poll nor rescan, with
`poll_interval` and `rescan_interval` of 35 days (3e6 s; both keys only say "> 0", and inotify does
the work). `shipper check` says the config is valid and the agent starts and ships what is there, then
its source dies at its first idle wait ("source failed" ... "timeout is too large"):
every line written after that is never shipped, while /health keeps answering `ok` and a stop exits 0.
Found: 50 of 50 lines at start shipped, 0 of the 10 appended after (reproduced 4 times, also with 1e10
and 1e308: "timestamp out of range for platform time_t"). The promise: a config error exits 2 naming
file, line and key; a config `check` accepts runs and ships every line."""
from __future__ import annotations

import subprocess
import sys
import time

import pytest

from tests.e2e.ops_attack import OpsAgent, append_numbered, counts
from tests.support import wait, wait_until

pytestmark = pytest.mark.slow


def test_month_long_poll_and_rescan_intervals_are_refused_or_work(tmp_path):
    log = tmp_path / "app.log"
    append_numbered(log, 1, 50)
    cfg = tmp_path / "shipper.yaml"
    agent = OpsAgent(tmp_path)
    cfg.write_text(f"""
state_dir: {tmp_path}/state
http: {{listen: "127.0.0.1:{agent.port}"}}
sources:
  - name: app
    type: file
    paths: [{log}]
    parser: json
    poll_interval: 3e6
    rescan_interval: 3e6
outputs:
  - type: stdout
""")
    check = subprocess.run([sys.executable, "-m", "shipper.cli", "check", "-c", str(cfg)],
                           capture_output=True, text=True, timeout=120)
    if check.returncode == 2:  # refused as a config error: it must name the file and the key
        assert str(cfg.name) in check.stderr and "_interval" in check.stderr, check.stderr
        return
    assert check.returncode == 0, check.stderr
    agent.start(cfg)
    try:
        wait_until(lambda: len(agent.seqs()) >= 50 or agent.proc.poll() is not None, 90,
                   "the 50 lines there at start")
        assert agent.proc.poll() is None, agent.errors()
        time.sleep(1)  # past the source's first idle wait
        append_numbered(log, 51, 10)
        wait(lambda: len(agent.seqs()) >= 60 or "source failed" in agent.errors(), 90)
        assert agent.proc.poll() is None, agent.errors()
    finally:
        rc = agent.stop()
    missing, repeated = counts(agent.seqs(), range(1, 61))
    assert not missing and not repeated, \
        f"missing {len(missing)} of 60 (e.g. {missing[:5]}), repeated {len(repeated)}; stop exit {rc}; " \
        f"{agent.errors()[-600:]}"
