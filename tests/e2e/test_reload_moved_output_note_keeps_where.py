"""Issue 23: the note of what an output stored keeps where it was stored when a reload gives that output's name to
another server while the source re-reads.

Output "up" (server A) stores what "down" does not; a stop notes it (`_delivered_to:up`, with where up stored).
The next start re-reads, sending those events to "down" only, and waits for room in its queue with part of the
note not met yet. A reload gives the name "up" to server B (docs/operations.md "A reload": a name given to
another server is owed every batch not completed, and is not noted for what its old server stored), and the agent
stops during the restart's wait. The note saved then said B stored those events (the where of the config in force):
the next start skipped them for B, which never had them, without a word. Now it says A: no configured output stores
there, the note is dropped and said so, and B gets every line from the checkpoint on."""
from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from tests.e2e.fluentd_agent import down_holds_what_up_stored, metric, start_agent, stored, write_lines
from tests.peers.forward_server import ForwardServer
from tests.support import stop_process, wait_until
from tests.tail.attack_agent import free_port

pytestmark = pytest.mark.slow


def write_config(tmp_path: Path, http_port: int, log: Path, up: ForwardServer, down: ForwardServer,
                 down_window: int = 8) -> Path:
    outputs = [("up", up, 8), ("down", down, down_window)]  # (the names down_holds_what_up_stored watches)
    cfg = {"state_dir": str(tmp_path / "state"), "shutdown_timeout": 3,
           "http": {"listen": f"127.0.0.1:{http_port}"},
           "sources": [{"name": "app", "type": "file", "paths": [str(log)], "parser": "json", "batch_size": 100,
                        "parse_workers": 0}],
           "outputs": [{"type": "fluentd", "name": name, "host": "127.0.0.1", "port": peer.port, "backoff_max": 1.0,
                        "flush_interval": 0.2, "max_in_flight_batches": window} for name, peer, window in outputs]}
    path = tmp_path / "cfg.yaml"
    path.write_text(json.dumps(cfg))  # JSON is YAML
    return path


def test_a_note_saved_after_a_reload_moved_its_output_says_where_the_events_went(tmp_path):
    log = tmp_path / "a.log"
    a, down, b = (ForwardServer(port=free_port()).start() for _ in range(3))
    http_port = free_port()
    journal = tmp_path / "journal.log"
    write_lines(log, "a", 0, 500)
    cfg = write_config(tmp_path, http_port, log, a, down)
    agent = start_agent(cfg, journal)
    try:
        down_holds_what_up_stored(log, a, down, http_port)  # (down from here; A stored what down holds)
        assert stop_process(agent, 60) == 1, journal.read_text()[-3000:]
        # Started again with a small window for down: the re-read waits for room in it, part of up's note unmet.
        write_config(tmp_path, http_port, log, a, down, down_window=2)
        agent = start_agent(cfg, journal)
        wait_until(lambda: metric(http_port, 'shipper_in_flight_batches{output="down"} 2.0'), 120,
                   "the re-read waiting for down")
        write_config(tmp_path, http_port, log, b, down, down_window=2)  # the name up given to server B
        done = journal.read_text().count("msg=reloaded")
        agent.send_signal(signal.SIGHUP)
        wait_until(lambda: journal.read_text().count("msg=reloaded") > done, 120, "the reload")
        assert "restarts once the batches its outputs are sending complete" in journal.read_text(), \
            "the restart did not wait: the test proves nothing"
        assert stop_process(agent, 60) == 1, journal.read_text()[-3000:]
        down.start()  # back, same port
        agent = start_agent(cfg, journal)
        write_lines(log, "z", 0, 1)  # the last line: each server has all it will get once it has this one
        wait_until(lambda: all(("z", 0) in stored(p) for p in (down, b)), 120, "the last line at down and B")
        assert stop_process(agent, 60) == 0, journal.read_text()[-3000:]
    finally:
        if agent.poll() is None:
            agent.kill()
        for peer in (a, down, b):
            peer.stop()
    text = journal.read_text()
    # Lines 0-499 were stored by A and down and checkpointed: B need not get them; it is owed the rest.
    for name, peer, first in (("down", down, 0), ("B", b, 500)):
        counts = stored(peer)
        missing = [n for n in range(first, 3500) if counts[("a", n)] == 0]
        repeated = [n for n in range(3500) if counts[("a", n)] > 1]
        assert not missing and not repeated, (
            f"server {name}: {len(missing)} lines missing ({missing[:1]}..{missing[-1:]}), {len(repeated)} repeated"
            f" ({repeated[:1]}..{repeated[-1:]})\n" + text[-4000:])
    assert not [n for n, c in stored(a).items() if c > 1], "server A stored lines twice"
    assert "the output now named up stores elsewhere" in text, text[-4000:]
