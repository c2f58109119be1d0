"""Black-box attack 9 (operator, issue 23): one reload renames a Fluentd output (`fwd` → `fwdx`, the same server
behind it) while that server is down and the output holds 900 lines stdout already wrote; then the server
comes back. No stop, no second reload.
Promised (docs/operations.md, "Reloads"): a batch an output closed by a reload (replaced, renamed or removed with
no output that stays having it) will never deliver is read again and sent to the outputs that did not store it:
"a replaced output's replacement (same name; a renamed one: the new name) gets it".
Found: the reload says `taken_back=0 completing=9`, then "batches a closed output did not deliver are read
again … batches=1": one batch of the nine is read again for `fwdx`; the other eight (800 lines) never reach the
Fluentd server, the checkpoint moves past them, and nothing in the journal names them (2 of 2 runs by hand, with
the first 2,400 lines on the server before it went down and again with all 3,000; every run of this test).
Changing the output without renaming it (`batch_size`: replaced under its name) delivered every line (by hand).
Cause: a rename is, to the reload, `fwd` removed and `fwdx` added; the batches the removed output held were
acknowledged on its behalf because stdout, which stays, had stored them, though `fwdx` lacked them. Now a
source the reload gives an added output (ReloadPlan.sources_gaining) gets them read again for it."""
from __future__ import annotations

import signal
import time
from collections import Counter

import pytest

from tests.e2e.ops_attack import OpsAgent, append_numbered
from tests.e2e.reload_overlap import hold_on_a_down_fluentd, on, stdout_and_fluentd_config
from tests.peers.forward_server import ForwardServer
from tests.support import wait
from tests.tail.attack_agent import free_port

pytestmark = pytest.mark.slow

FIRST, HELD = 3000, 900  # lines everyone stored; lines only stdout stored while Fluentd was down


def test_renaming_a_down_output_delivers_every_held_line_to_the_new_name(tmp_path):
    fwd = ForwardServer(port=free_port()).start()
    log = tmp_path / "app.log"
    append_numbered(log, 1, FIRST)
    cfg = tmp_path / "shipper.yaml"
    http = free_port()
    cfg.write_text(stdout_and_fluentd_config(tmp_path, log, fwd.port, http, shutdown_timeout=2))
    agent = OpsAgent(tmp_path)
    everything = set(range(1, FIRST + HELD + 1))
    try:
        agent.start(cfg)
        hold_on_a_down_fluentd(agent, fwd, log, FIRST, HELD)
        cfg.write_text(stdout_and_fluentd_config(tmp_path, log, fwd.port, http, fwd_name="fwdx", shutdown_timeout=2))
        assert agent.proc is not None
        agent.proc.send_signal(signal.SIGHUP)
        assert wait(lambda: "msg=reloaded" in agent.errors(), 60), "the reload did not end"
        fwd.start()
        arrived = wait(lambda: everything <= set(on(fwd)), 45)
        time.sleep(1)
    finally:
        agent.stop()
        fwd.stop()
    missing = sorted(everything - set(on(fwd)))
    assert arrived and not missing, (f"{len(missing)} lines never reached Fluentd ({missing[:2]}..{missing[-2:]}); "
                                     f"journal: {[ln[:160] for ln in agent.errors().splitlines() if 'read again' in ln]}")
    assert not [s for s, n in Counter(agent.seqs()).items() if n > 1], "lines twice on stdout"
