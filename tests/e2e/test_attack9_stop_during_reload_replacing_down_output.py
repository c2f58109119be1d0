"""Black-box attack 9 (operator, issues 23 and 13): a reload, then at once a stop. A file source of numbered lines
goes to stdout and to a Fluentd output whose server is down (it holds 900 lines stdout already wrote). The
operator changes that output (its batch_size: the output is replaced) and runs `systemctl reload`, then
`systemctl stop` half a second later; once the server is back, the agent is started again.
Promised (README "Known limits", docs/operations.md "Reloads" and "stop"): a SIGTERM stop repeats nothing; the
events one output stored are noted per output (`_delivered_to:<output>`) and the re-read skips them for it; "an
output that stays is never asked to send them again"; a stop that leaves batches undelivered exits 1.
Found: the stop cuts the reload just as it takes the replaced output's batches back; the journal says "cannot note
which outputs stored the batches taken back: the re-read sends them to every output again", the stop says
`stopped delivered=True` and exits 0, and the next start writes the 900 lines again to stdout (never replaced,
always working): 900 of 3,900 lines twice (2 of 3 runs by hand with the stop right after the SIGHUP, every run
with the stop inside the reload's wait as here). Fixed: a note the stop signal kept the reload from saving is saved
by the stop (Pipeline.note_at_stop)."""
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

FIRST, HELD = 3000, 900  # lines everyone stored; lines only stdout stored before the stop


def test_stop_right_after_a_reload_replacing_a_down_output_repeats_nothing_on_stdout(tmp_path):
    fwd = ForwardServer(port=free_port()).start()
    log = tmp_path / "app.log"
    append_numbered(log, 1, FIRST)
    cfg = tmp_path / "shipper.yaml"
    http = free_port()
    cfg.write_text(stdout_and_fluentd_config(tmp_path, log, fwd.port, http))
    agent = OpsAgent(tmp_path)
    everything = range(1, FIRST + HELD + 1)
    try:
        agent.start(cfg)
        hold_on_a_down_fluentd(agent, fwd, log, FIRST, HELD)
        cfg.write_text(stdout_and_fluentd_config(tmp_path, log, fwd.port, http, fwd_extra=", batch_size: 300"))
        assert agent.proc is not None
        agent.proc.send_signal(signal.SIGHUP)
        assert wait(lambda: "msg=reloading" in agent.errors(), 30), "the reload did not begin"
        time.sleep(0.5)  # inside the reload's wait for the batches fwd holds (shutdown_timeout 5)
        first_exit = agent.stop()
        fwd.start()
        agent.start(cfg)
        assert wait(lambda: set(everything) <= set(on(fwd)), 90), \
            f"fwd has {len(set(on(fwd)))} of {len(everything)} lines after the restart"
        time.sleep(2)  # a repeat on stdout would come with fwd's re-read
    finally:
        agent.stop()
        fwd.stop()
    twice = sorted(s for s, n in Counter(agent.seqs()).items() if n > 1)
    journal = agent.errors()
    assert not twice, (f"{len(twice)} lines twice on stdout ({twice[:2]}..{twice[-2:]}), first stop exit "
                       f"{first_exit}; journal: cannot note={'cannot note which outputs' in journal}")
    assert set(everything) <= set(agent.seqs())
