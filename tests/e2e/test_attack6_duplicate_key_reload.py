"""Black-box attack 6 (operator): to add a source, the operator appends a second `sources:` block at
the end of the config (a copy-paste from another host's file), and reloads. YAML's duplicate key is
taken silently: the last `sources:` wins, so the reload removes the running source `a` ("source removed;
its checkpoint is kept", at info level) and starts only `b`. Every line written to a.log from then on is
never shipped, and no warning or error says the config had two `sources:`. `shipper check` says
"valid" too (also for a key repeated inside one source: a second `paths:` drops the first). Found: 0
of 20 lines appended to a.log after the reload shipped (reproduced twice by hand with check, and by
this test). The promise: an invalid reload is refused and the running config kept, with the error's
file, line and key; nothing is lost silently."""
from __future__ import annotations

import signal

import pytest

from tests.e2e.ops_attack import OpsAgent, append_numbered, counts
from tests.support import wait, wait_until

pytestmark = pytest.mark.slow


def test_second_sources_block_is_refused_not_applied(tmp_path):
    a_log, b_log = tmp_path / "a.log", tmp_path / "b.log"
    append_numbered(a_log, 1, 50)
    append_numbered(b_log, 1001, 10)
    agent = OpsAgent(tmp_path)
    cfg = tmp_path / "shipper.yaml"
    first = f"""
state_dir: {tmp_path}/state
sources:
  - {{name: a, type: file, paths: ["{a_log}"], parser: json}}
outputs:
  - type: stdout
"""
    cfg.write_text(first)
    agent.start(cfg)
    try:
        wait_until(lambda: len(agent.seqs()) >= 50 or agent.proc.poll() is not None, 90, "a.log's 50 lines")
        cfg.write_text(first + f"""
sources:
  - {{name: b, type: file, paths: ["{b_log}"], parser: json}}
""")
        agent.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: "reload" in agent.errors() and ("refused" in agent.errors() or "reloaded" in agent.errors()),
                   90, "the reload to be applied or refused")
        append_numbered(a_log, 51, 20)
        wait(lambda: set(agent.seqs()) >= set(range(1, 71)), 30)
    finally:
        assert agent.stop() == 0, agent.errors()
    missing, repeated = counts([s for s in agent.seqs() if s < 1000], range(1, 71))
    assert not missing and not repeated, \
        f"{len(missing)} of the 20 lines written to a.log after the reload never shipped " \
        f"(e.g. {missing[:5]}), repeated {len(repeated)}; the journal: {agent.errors()[-700:]}"
    assert "sources" in agent.errors() and "refused" in agent.errors()
