"""A Fluentd that stores the second chunk of a connection and resets it before the ack (it crashed, or a proxy cut it):
the output sends the chunk again, and the server stores it twice, unnamed (issue 23 (b), found by repeat23, session
21, 1 of 1 runs by hand and here: 100 events stored twice, nothing in the journal).

Why: ForwardConnection.send_chunk takes a reset met on the second chunk of a connection for in_forward's
deny_keepalive close racing that chunk (StaleConnection: the server closed before it read the chunk, nothing stored)
and resends it quietly. A reset after the server read and stored it looks the same from the client. Naming it as a
possible repeat would warn falsely at every such race with deny_keepalive (tests with `close_delay`); telling the two
apart is not done yet. Held as a strict xfail: it turns XPASS once the repeat is named.
"""
from __future__ import annotations

import json
import re

import pytest

from tests.e2e.fluentd_agent import run_agent, stored, write_lines
from tests.peers.forward_server import ForwardServer
from tests.support import stop_process, wait_until


@pytest.mark.xfail(strict=True, reason="a chunk stored then reset as the 2nd of its connection is resent as a stale "
                                       "connection's, unnamed (deny_keepalive's race looks the same)")
def test_a_second_chunk_stored_then_reset_is_named_as_a_possible_repeat(tmp_path):
    peer = ForwardServer().start()
    cfg = {"state_dir": str(tmp_path / "state"), "shutdown_timeout": 3,
           "sources": [{"name": "app", "type": "file", "paths": [str(tmp_path / "app.log")], "parser": "json",
                        "parse_workers": 0}],
           "outputs": [{"type": "fluentd", "name": "fwd", "host": "127.0.0.1", "port": peer.port,
                        "flush_interval": 0.1}]}
    (tmp_path / "cfg.yaml").write_text(json.dumps(cfg))  # JSON is YAML
    (tmp_path / "app.log").touch()
    journal = tmp_path / "agent.err"
    agent = run_agent(tmp_path / "cfg.yaml", journal)
    try:
        write_lines(tmp_path / "app.log", "a", 0, 100)
        wait_until(lambda: len(stored(peer)) == 100, 60, "the first chunk")
        assert peer.connections == 1
        peer.drop_after_store(1)  # the next chunk, the second of this connection: stored, then a reset
        write_lines(tmp_path / "app.log", "a", 100, 100)
        wait_until(lambda: len(stored(peer)) == 200, 60, "the second chunk")
    finally:
        stop_process(agent, 60)
        peer.stop()
    repeated = sum(c - 1 for c in stored(peer).values())
    assert repeated == 100, "the second chunk was not stored twice: the premise of this test did not occur"
    named = sum(int(n) for n in re.findall(r"possible repeat of (\d+) events", journal.read_text()))
    assert named == repeated, f"{repeated} events stored twice, {named} named"
