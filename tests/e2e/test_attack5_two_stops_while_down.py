"""Black-box attack 5: one of two outputs down across two restarts. A stop now notes which events the
healthy output (stdout) stored, and the next start sends them only to the output that lacks them
(test_attack5_healthy_output_repeats.py). Stop again while the output is still down, and start once more:
the events the second run did not send to stdout (it had them) are not noted as stdout's at the second
stop, so the third run writes them to stdout a second time. Found: 50 of 80 events repeated on stdout
at the third start (by hand, one more stop while down: the other 30 too, every event twice)."""
from __future__ import annotations

from collections import Counter

import pytest

from tests.e2e.test_attack5_healthy_output_repeats import config, start, stdout_ns, stop, write_lines
from tests.peers.forward_server import ForwardServer
from tests.support import wait_until

pytestmark = pytest.mark.slow


def test_two_stops_while_one_output_is_down_repeat_nothing_on_the_healthy_one(tmp_path):
    sock = tmp_path / "fluentd.sock"
    write_lines(tmp_path / "audit.log", 0, 50)
    cfg = tmp_path / "shipper.yaml"
    cfg.write_text(config(tmp_path, sock))
    out, log = tmp_path / "out.jsonl", tmp_path / "agent.log"

    agent = start(cfg, out, log)
    try:
        wait_until(lambda: len(stdout_ns(out)) >= 50, 90, "stdout to write the first 50 events")
    finally:
        assert stop(agent) == 1
    write_lines(tmp_path / "audit.log", 50, 30)
    agent = start(cfg, out, log)  # Fluentd still down: stdout gets the 30 new events only
    try:
        wait_until(lambda: set(stdout_ns(out)) >= set(range(80)), 90, "stdout to write the 30 new events")
        wait_until(lambda: log.read_text().count("are not sent to it again") >= 1, 90,
                   "the second run to skip what stdout had")
    finally:
        assert stop(agent) == 1
    peer = ForwardServer(unix_path=str(sock), mode="unix").start()  # Fluentd back for the third run
    agent = start(cfg, out, log)
    try:
        wait_until(lambda: len(peer.records) >= 80, 90, "Fluentd to get the 80 events")
    finally:
        stop(agent)
        peer.stop()
    assert sorted(r[2]["generic"]["n"] for r in peer.records) == list(range(80))
    copies = Counter(stdout_ns(out))
    repeated = sorted(n for n, c in copies.items() if c > 1)
    assert set(copies) == set(range(80)) and not repeated, \
        f"{len(repeated)} of 80 events written to stdout twice: {repeated[:10]}…"
