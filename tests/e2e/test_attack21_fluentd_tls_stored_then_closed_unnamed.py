"""Attack 21 (exam23d, issue 23): a TLS Fluentd that stores a chunk and closes the connection before its ack (it
crashed or restarted after storing, a proxy cut it): the chunk is sent again and stored twice, and the journal says
nothing.

docs/operations.md: "A chunk whose connection is reset after it was written whole may have been stored (a Fluentd that
crashed or restarted after storing it, a proxy that cut it): it is sent again and named, `fluentd delivery failed; the
chunk will be sent again, and the server may have stored the chunk (a possible repeat of N events)`", and README's
"Known limits": "each such resend is named in the journal". Session 22 made it so on a kept connection
(tests/e2e/test_fluentd_second_chunk_stored_then_reset_unnamed.py), over plain TCP.

The strict peer with `<transport tls>` (in_forward closes with SO_LINGER 0, as the peer does), 1,000 lines in chunks
of 100, the peer storing three of them and closing before their acks (drop_after_store): 300 events stored twice, 0
named, no warning at all (3 of 3 by hand, with and without `compress`; with a shared key, whose HELO says the connection
is kept, the same, 1 of 1 by hand). The same peer without TLS: 300 stored twice, 300 named; with TLS and
deny_keepalive (a connection per chunk): 300 and 300.
"""
from __future__ import annotations

import json
import re
import ssl
import time
from pathlib import Path

import pytest
import trustme

from tests.e2e.fluentd_agent import run_agent, stored, write_lines
from tests.peers.forward_server import ForwardServer
from tests.support import free_port, stop_process, wait_until


@pytest.mark.parametrize("security", [False, True], ids=["kept-by-empty-chunk", "kept-by-helo"])
def test_a_tls_chunk_stored_then_closed_before_its_ack_is_named(tmp_path: Path, security: bool) -> None:
    ca = trustme.CA()
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(server_ctx)
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    peer = ForwardServer(port=free_port(), tls=server_ctx, shared_key="k3y" if security else None).start()
    (tmp_path / "key").write_text("k3y\n")
    (tmp_path / "key").chmod(0o600)
    log = tmp_path / "app.log"
    log.touch()
    cfg = {"state_dir": str(tmp_path / "state"), "shutdown_timeout": 5,
           "sources": [{"name": "app", "type": "file", "paths": [str(log)], "parser": "json", "parse_workers": 0,
                        "batch_size": 100}],
           "outputs": [{"type": "fluentd", "name": "fwd", "host": "127.0.0.1", "port": peer.port,
                        "flush_interval": 0.1, "backoff_max": 1.0, "tls": True,
                        "tls_ca_file": str(tmp_path / "ca.pem"),
                        **({"shared_key_file": str(tmp_path / "key"), "self_hostname": "agent"} if security else {})}]}
    (tmp_path / "cfg.yaml").write_text(json.dumps(cfg))  # JSON is YAML
    journal = tmp_path / "agent.err"
    agent = run_agent(tmp_path / "cfg.yaml", journal)
    try:
        for write in range(10):
            if write in (2, 5, 7):
                peer.drop_after_store(1)  # the next chunk of records: stored, then the connection closed, no ack
            write_lines(log, "a", write * 100, 100)
            time.sleep(0.5)
        wait_until(lambda: len(stored(peer)) == 1000, 60, "every line stored")
        time.sleep(1)  # a late resend, if any, arrives
    finally:
        stop_process(agent, 60)
        peer.stop()
    repeated = sum(c - 1 for c in stored(peer).values())
    assert repeated > 0, "no chunk was stored twice: the premise of this test did not occur"
    named = sum(int(n) for n in re.findall(r"possible repeat of (\d+) events", journal.read_text()))
    assert named == repeated, f"{repeated} events stored twice, {named} named"
