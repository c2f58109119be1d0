"""A Fluentd with `deny_keepalive true` that closes each connection a while after the ack (in_forward closes on the
ack's write; a slow loop, or a proxy, lets the client write its next chunk first): the chunks behind a close are never
read, so nothing is repeated, and the journal names no possible repeat (issue 23: a resend of a chunk whose ack never
came is named, but not the harmless reconnect this close causes, which was the reason a388380's case went unnamed).

Real agent, strict peer (tests/peers/forward_server.py, `close_delay`): chunks follow each other back to back, so the
output writes onto a connection the peer is about to close. It asks first with an empty chunk (ForwardConnection.
_ask_kept_alive); that question meets the close, and the chunk goes on a fresh connection, quietly. The race shows as
the output's retries (a send tried again at once), the test's premise.
"""
from __future__ import annotations

import json
import re
import urllib.request

from tests.e2e.fluentd_agent import run_agent, stored, write_lines
from tests.peers.forward_server import ForwardServer
from tests.support import stop_process, wait_until
from tests.tail.attack_agent import free_port

LINES = 600  # six chunks of 100 (the source's batch_size and the output's)


def _retries(http_port: int) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/metrics", timeout=30) as r:
        m = re.search(r'^shipper_output_retries_total\{output="fwd"\} (\S+)$', r.read().decode(), re.M)
    return float(m.group(1)) if m else 0.0


def test_deny_keepalive_closes_racing_the_next_chunk_name_no_repeat(tmp_path):
    peer = ForwardServer(deny_keepalive=True, close_delay=1.0).start()
    http_port = free_port()
    cfg = {"state_dir": str(tmp_path / "state"), "shutdown_timeout": 3, "http": {"listen": f"127.0.0.1:{http_port}"},
           "sources": [{"name": "app", "type": "file", "paths": [str(tmp_path / "app.log")], "parser": "json",
                        "batch_size": 100, "parse_workers": 0}],
           "outputs": [{"type": "fluentd", "name": "fwd", "host": "127.0.0.1", "port": peer.port, "batch_size": 100,
                        "flush_interval": 0.05}]}
    (tmp_path / "cfg.yaml").write_text(json.dumps(cfg))  # JSON is YAML
    (tmp_path / "app.log").touch()
    journal = tmp_path / "agent.err"
    agent = run_agent(tmp_path / "cfg.yaml", journal)
    try:
        write_lines(tmp_path / "app.log", "a", 0, LINES)  # all at once: each chunk is ready as the last is acked
        wait_until(lambda: len(stored(peer)) == LINES, 120, "every line at the peer")
        retries = _retries(http_port)
    finally:
        stop_process(agent, 60)
        peer.stop()
    assert retries >= 1, "no chunk followed another onto a closing connection: the test proves nothing"
    assert set(stored(peer).values()) == {1}, "each line once"
    assert peer.errors == []
    text = journal.read_text()
    assert "possible repeat" not in text and "may have stored" not in text, text[-3000:]
