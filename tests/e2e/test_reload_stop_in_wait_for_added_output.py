"""Issue 23: a stop while a reload's restart waits only for the batches owed to an output that reload added.

A reload adds output "added" while output "slow" (a Fluentd that reads nothing: frozen) is sending the source's
batches: the restart waits for them (docs/operations.md "A reload": every batch not completed at the reload is owed
to the added output, and read again for it once the others are done). The agent is SIGSTOPped, slow reads, stores
and acknowledges what it had been sent, and SIGTERM and SIGCONT come together: the acks complete those batches at
"up" and "slow", and owed to "added" they can no longer complete. Before, the stop waited the whole shutdown_timeout
(12 s here) for acks that never come, then said only "shutdown timeout"; now it stops as promptly as any stop, names
those batches with their count and what they are owed to, and the next start sends them to "added" alone."""
from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from tests.e2e.fluentd_agent import metric, start_agent, stored, write_lines
from tests.peers.forward_server import ForwardServer
from tests.support import stop_process, wait_until
from tests.tail.attack_agent import free_port

pytestmark = pytest.mark.slow

SHUTDOWN_TIMEOUT = 12


def write_config(tmp_path: Path, http_port: int, log: Path, outputs: list[tuple[str, ForwardServer]]) -> Path:
    cfg = {"state_dir": str(tmp_path / "state"), "shutdown_timeout": SHUTDOWN_TIMEOUT,
           "http": {"listen": f"127.0.0.1:{http_port}"},
           "sources": [{"name": "app", "type": "file", "paths": [str(log)], "parser": "json", "batch_size": 100,
                        "parse_workers": 0}],
           "outputs": [{"type": "fluentd", "name": name, "host": "127.0.0.1", "port": peer.port, "backoff_max": 1.0,
                        "flush_interval": 0.2, "ack_timeout": 1000} for name, peer in outputs]}
    path = tmp_path / "cfg.yaml"
    path.write_text(json.dumps(cfg))  # JSON is YAML
    return path


def settled(peer: ForwardServer) -> bool:
    """True once the peer stored nothing new for a second (what it had been sent is read and acknowledged)."""
    before = len(peer.records)
    time.sleep(1.0)
    return len(peer.records) == before


def test_a_stop_does_not_wait_for_batches_owed_to_an_added_output(tmp_path):
    log = tmp_path / "a.log"
    up, slow, added = (ForwardServer(port=free_port()).start() for _ in range(3))
    http_port = free_port()
    journal = tmp_path / "journal.log"
    write_lines(log, "a", 0, 150)
    cfg = write_config(tmp_path, http_port, log, [("up", up), ("slow", slow)])
    agent = start_agent(cfg, journal)
    took = None
    try:
        wait_until(lambda: len(up.records) >= 150 and len(slow.records) >= 150, 120, "lines 0-149 at up and slow")
        # A second chunk on slow's connection: the output asks first whether the server keeps it (an empty chunk,
        # ForwardConnection._ask_kept_alive), so the chunks after the freeze are written, not only that question.
        write_lines(log, "a", 150, 150)
        wait_until(lambda: len(up.records) >= 300 and len(slow.records) >= 300, 120, "lines 0-299 at up and slow")
        assert slow.connections == 1 and slow.empty_chunks == 1, (slow.connections, slow.empty_chunks)
        slow.frozen.set()  # accepts, reads nothing: the batches it is sent stay in flight
        write_lines(log, "a", 300, 500)
        wait_until(lambda: ("a", 799) in stored(up), 120, "lines 300-799 at up")
        wait_until(lambda: not metric(http_port, 'shipper_in_flight_batches{output="slow"} 0.0')
                   and metric(http_port, 'shipper_in_flight_batches{output="slow"}'), 60, "slow sending")
        write_config(tmp_path, http_port, log, [("up", up), ("slow", slow), ("added", added)])
        agent.send_signal(signal.SIGHUP)
        wait_until(lambda: "msg=reloaded" in journal.read_text(), SHUTDOWN_TIMEOUT + 120, "the reload")
        assert "restarts once the batches its outputs are sending complete" in journal.read_text(), \
            "the restart did not wait for slow: the test proves nothing"
        os.kill(agent.pid, signal.SIGSTOP)
        try:
            slow.frozen.clear()  # slow stores what it was sent; its acks wait in the stopped agent's socket
            wait_until(lambda: len(slow.records) > 300 and settled(slow), 60, "slow storing what it was sent")
            agent.send_signal(signal.SIGTERM)
            began = time.monotonic()
        finally:
            os.kill(agent.pid, signal.SIGCONT)
        code = agent.wait(SHUTDOWN_TIMEOUT + 60)
        took = time.monotonic() - began
    finally:
        if agent.poll() is None:
            agent.kill()
    text = journal.read_text()
    assert code == 1, text[-3000:]  # not delivered: named, exit 1
    assert took < SHUTDOWN_TIMEOUT / 2, (
        f"the stop took {took:.1f}s: it waited for acks that never come (shutdown_timeout {SHUTDOWN_TIMEOUT}s)\n"
        + text[-3000:])
    assert "shutdown timeout:" not in text, text[-3000:]
    said = [x for x in text.splitlines() if "cannot be delivered by any output now" in x]
    assert len(said) == 1 and "owed to output(s) added, which a reload added" in said[0] \
        and "source=app" in said[0], text[-3000:]
    assert "(owed to output(s) added, which a reload added)" in text, text[-3000:]  # the undelivered list
    # The next start sends those batches to "added", and to no output that stored them.
    agent = start_agent(cfg, journal)
    try:
        write_lines(log, "z", 0, 1)
        wait_until(lambda: all(("z", 0) in stored(p) for p in (up, slow, added)), 120, "the last line everywhere")
        assert stop_process(agent) == 0, journal.read_text()[-3000:]
    finally:
        if agent.poll() is None:
            agent.kill()
        for peer in (up, slow, added):
            peer.stop()
    for name, peer, first in (("up", up, 0), ("slow", slow, 0), ("added", added, 300)):
        counts = stored(peer)
        missing = [n for n in range(first, 800) if counts[("a", n)] == 0]
        repeated = [n for n in range(800) if counts[("a", n)] > 1]
        assert not missing and not repeated, (
            f"server {name}: {len(missing)} lines missing ({missing[:1]}..{missing[-1:]}), {len(repeated)} repeated"
            f" ({repeated[:1]}..{repeated[-1:]})\n" + journal.read_text()[-3000:])
