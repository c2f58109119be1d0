"""Black-box attack 6 (operator): rename a file source (`name: app` → `name: app_audit`) while the
agent is stopped, then start it. The new name has no checkpoint, so the file is read from its start and
every line already shipped is shipped again (with the name, the events' stable ids change too, so
Elasticsearch keeps both copies) — and nothing says so. The same rename by a reload is warned ("was
followed by source app until now (a reload moved it) ... may be shipped again"). Found: 300 of 300
lines shipped twice, no warning or error (reproduced 3 times: 590, 500 and 300 lines). The promise:
nothing repeated silently (README: "without losing or repeating a line across rotations and restarts";
the reload warns it)."""
from __future__ import annotations

import pytest

from tests.e2e.ops_attack import OpsAgent, append_numbered, counts
from tests.support import wait_until

pytestmark = pytest.mark.slow

CONFIG = """
state_dir: {tmp}/state
sources:
  - {{name: {name}, type: file, paths: ["{log}"], parser: json}}
outputs:
  - type: stdout
"""


def test_source_renamed_between_runs_repeats_nothing_or_says_so(tmp_path):
    log = tmp_path / "app.log"
    append_numbered(log, 1, 300)
    cfg = tmp_path / "shipper.yaml"
    agent = OpsAgent(tmp_path)
    cfg.write_text(CONFIG.format(tmp=tmp_path, name="app", log=log))
    agent.start(cfg)
    try:
        wait_until(lambda: len(agent.seqs()) >= 300 or agent.proc.poll() is not None, 90, "the first 300 lines")
    finally:
        assert agent.stop() == 0, agent.errors()
    cfg.write_text(CONFIG.format(tmp=tmp_path, name="app_audit", log=log))
    append_numbered(log, 301, 20)
    agent.start(cfg)
    try:
        wait_until(lambda: set(agent.seqs()) >= set(range(1, 321)) or agent.proc.poll() is not None, 90,
                   "the 20 lines written while stopped")
    finally:
        assert agent.stop() == 0, agent.errors()
    missing, repeated = counts(agent.seqs(), range(1, 321))
    assert not missing
    said = [line for line in (tmp_path / "out2.err").read_text().splitlines()
            if "level=warning" in line and str(log) in line]
    assert not repeated or said, \
        f"{len(repeated)} of 320 lines shipped twice after the rename, and no warning names {log}"
