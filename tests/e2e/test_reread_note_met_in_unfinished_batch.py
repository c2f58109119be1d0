"""Issue 23, the chaos harness's unnamed repeat (session 17's examiner: 4 lines twice at the Fluentd that had stayed
up, 2 of 6 chaos runs, the last 4 of a 100-line batch; the source's batch_size alternated 100/37).

A re-read sends an output only the events it did not store before (the note, `_delivered_to:<output>`). When the
note ends inside a batch of the re-read (noted under another `batch_size`, or a batch read in pieces), that batch
goes to the output without the noted events, and the note is spent: those events were met again. If that batch
is then taken back undelivered (a stop or a reload before the output acknowledged it), the next note must still
name them. It did not: `save_delivered_to` noted what the output acknowledged and what the re-read had not met yet,
and the events met in the unfinished batch were in neither, so the next re-read sent them to that output a second
time, without a word.

Deterministic: the note is made by a stop with one output down (37-line batches), the re-read with 100-line
batches meets its end in one batch while both outputs are down, and a stop takes that batch back."""
from __future__ import annotations

import json
import re
import signal

import pytest

from tests.e2e.fluentd_agent import start_agent, stored, write_config, write_lines
from tests.peers.forward_server import ForwardServer
from tests.support import wait_until
from tests.tail.attack_agent import free_port

pytestmark = pytest.mark.slow

NOTED = 222  # 6 batches of 37: the output that is up stores them all while the other holds them (its queue: 8)
TOTAL = 400


def test_events_met_in_a_batch_taken_back_stay_noted(tmp_path):
    log = tmp_path / "a.log"
    up, down = ForwardServer(port=free_port()).start(), ForwardServer(port=free_port())  # down: not started
    journal = tmp_path / "journal.log"

    def config(batch_size: int) -> None:
        path = write_config(tmp_path, free_port(), [log], [("up", up.port), ("down", down.port)])
        cfg = json.loads(path.read_text())
        cfg["sources"][0]["batch_size"] = batch_size
        path.write_text(json.dumps(cfg))

    def stop(agent, code: int) -> None:
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(60) == code, journal.read_text()

    config(37)
    write_lines(log, "a", 0, NOTED)
    agent = start_agent(tmp_path / "cfg.yaml", journal)
    try:
        wait_until(lambda: len(stored(up)) >= NOTED, 120, "the first lines at the server that is up")
        stop(agent, 1)  # notes what "up" stored: lines 0-221
        config(100)
        up.stop()
        write_lines(log, "a", NOTED, TOTAL - NOTED)
        agent = start_agent(tmp_path / "cfg.yaml", journal)
        # The re-read's batch 200-299 holds the note's last 22 lines and 78 new ones: sent to "up" without the 22
        wait_until(lambda: re.search(r'not sent to it again" source=app output=up events=(?!100\b)\d+',
                                     journal.read_text()), 120, "a batch with noted and new lines for up")
        stop(agent, 1)  # that batch taken back, unacknowledged
        up.start()
        down.start()
        agent = start_agent(tmp_path / "cfg.yaml", journal)
        write_lines(log, "z", 0, 1)  # the last line: each server has all it will get once it has this one
        wait_until(lambda: ("z", 0) in stored(up) and ("z", 0) in stored(down), 120, "the last line at both")
        stop(agent, 0)
    finally:
        if agent.poll() is None:
            agent.kill()
        up.stop()
        down.stop()
    for name, peer in (("up", up), ("down", down)):
        counts = stored(peer)
        missing = [n for n in range(TOTAL) if counts[("a", n)] == 0]
        repeated = [n for n in range(TOTAL) if counts[("a", n)] > 1]
        assert not missing and not repeated, (
            f"server {name}: {len(missing)} lines missing {missing[:1]}..{missing[-1:]}, {len(repeated)} stored "
            f"twice {repeated[:1]}..{repeated[-1:]}\n{journal.read_text()}")
