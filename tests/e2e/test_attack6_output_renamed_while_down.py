"""Black-box attack 6 (operator): rename an output twice (`fwd_a` → `fwd_b` → `fwd_c`, the same Fluentd
behind it; each reload applied before the next) while that Fluentd is down, with events read and waiting
for it, then bring Fluentd back. docs/operations.md (reload): an output "replaced by the same reload
while it is down loses the batches it held, which are read again for its replacement (at-least-once for
it)". Found: every event read during the outage never reaches Fluentd, and the checkpoint moves past
them; no warning about them, no error, stop exit 0. 100 of 100 in this test (3 runs); by hand with a
writer running and renames 0.3 s apart, 20, 20, 30 and 160 of ~2,100. One rename alone held (2 runs).
Cause (one rename loses them too, 2 of 2 runs before the fix): a rename removes `fwd_a` and adds `fwd_b`;
the batches the removed output held were acknowledged on its behalf as if another output had them, so
committed; now they are read again for the source's outputs (reload_apply, tests/core/
test_reload_removed_output_batches.py)."""
from __future__ import annotations

import signal

import pytest

from tests.e2e.ops_attack import OpsAgent, append_numbered, counts
from tests.peers.forward_server import ForwardServer
from tests.support import wait, wait_until
from tests.tail.attack_agent import free_port

pytestmark = pytest.mark.slow


def config(tmp, log, port, output):
    return f"""
state_dir: {tmp}/state
shutdown_timeout: 5
sources:
  - {{name: app, type: file, paths: ["{log}"], parser: json, batch_size: 20}}
outputs:
  - {{type: fluentd, name: {output}, host: 127.0.0.1, port: {port}, flush_interval: 0.1,
     backoff_base: 0.05, backoff_max: 0.5}}
"""


def received(*peers) -> list:
    return [r[2]["generic"]["seq"] for p in peers for r in p.records]


@pytest.mark.parametrize("names", [("fwd_b",), ("fwd_b", "fwd_c")], ids=["once", "twice"])
def test_output_renamed_while_down_loses_nothing(tmp_path, names):
    log, cfg = tmp_path / "app.log", tmp_path / "shipper.yaml"
    port = free_port()
    first = ForwardServer(port=port).start()
    append_numbered(log, 1, 100)
    cfg.write_text(config(tmp_path, log, port, "fwd_a"))
    agent = OpsAgent(tmp_path)
    agent.start(cfg)
    second = None
    try:
        wait_until(lambda: len(received(first)) >= 100 or agent.proc.poll() is not None, 90, "the first 100")
        first.stop()  # Fluentd down
        append_numbered(log, 101, 100)
        wait_until(lambda: "delivery failed" in agent.errors(), 90, "the agent to try the down Fluentd")
        for reloads, name in enumerate(names, 1):
            cfg.write_text(config(tmp_path, log, port, name))
            agent.proc.send_signal(signal.SIGHUP)
            wait_until(lambda: agent.errors().count("msg=reloaded") >= reloads, 90, "the reload")
        second = ForwardServer(port=port).start()  # Fluentd back
        append_numbered(log, 201, 10)
        wait(lambda: set(received(first, second)) >= set(range(1, 211)), 30)
    finally:
        rc = agent.stop()
        if second is not None:
            second.stop()
    missing, repeated = counts(received(first, second), range(1, 211))
    assert not missing, f"{len(missing)} of 210 events never reached Fluentd (e.g. {missing[:5]}); " \
        f"stop exit {rc}; warnings: {[l[:160] for l in agent.errors().splitlines() if 'level=info' not in l][-4:]}"
