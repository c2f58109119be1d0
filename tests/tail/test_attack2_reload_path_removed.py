"""Black-box attack: a SIGHUP reload takes a file out of a source's `paths`, a later one puts it back (an
operator trying a config change, then undoing it). The file is still on disk all along: a real
`shipper run` must not call it "rotated away and deleted", and must not read it again from its start when it
comes back — only the lines written since are delivered."""
from __future__ import annotations

import signal
import time

import pytest

from tests.tail.attack_agent import Agent, exactly_once, numbered

pytestmark = pytest.mark.slow


def write(path, lo: int, hi: int) -> None:
    with open(path, "a") as f:
        f.write("".join(numbered(i) for i in range(lo, hi)))


def test_path_removed_then_restored_by_reload_repeats_nothing(tmp_path):
    a, b = tmp_path / "a.log", tmp_path / "b.log"
    write(a, 0, 10)
    write(b, 10, 20)
    agent = Agent(tmp_path, [a, b], "    read_from: beginning")
    both, only_a = f"paths: [{a}, {b}]", f"paths: [{a}]"
    assert both in agent.cfg.read_text()
    agent.start()
    try:
        assert agent.wait_delivered(range(20))
        agent.cfg.write_text(agent.cfg.read_text().replace(both, only_a))
        agent.proc.send_signal(signal.SIGHUP)
        write(a, 20, 30)
        assert agent.wait_delivered(range(30), timeout=40)  # the reload is done
        time.sleep(3)  # time for the source to decide about b.log's state
        write(b, 30, 40)  # written while b.log is not followed
        agent.cfg.write_text(agent.cfg.read_text().replace(only_a, both))
        agent.proc.send_signal(signal.SIGHUP)
        delivered = agent.wait_delivered(range(40), timeout=40)
        time.sleep(2)
    finally:
        assert agent.stop() == 0
    assert delivered, exactly_once(agent.seqs(), range(40))
    assert exactly_once(agent.seqs(), range(40)) == ""
    assert "data lost" not in agent.errors(), agent.errors()
