"""A Fluentd server that takes chunks and stops acking them: every copy it stores more than once is named in the
journal with its count (`a possible repeat of N events`), once (issue 23, exam23's "Fluentd peer faults during
SIGHUP every 0.3 s": 1,000 lines repeated, 870 named; 750 and 740).

Found (repeat23, session 21, 3 of 5 runs of that scenario by hand, counted by seq at the peer): two kinds of copy
went unnamed.
- The third chunk in a row with no ack makes the output a refused one ("no ack … 3 times in a row … each resend may
  be stored again", no count): that third copy, stored by the server, was named nowhere.
- A batch larger than the output's `batch_size` goes in several chunks; when one of them ends the send with a
  refusal, the output's retry sent the whole batch again, the chunks the server had acknowledged too: a repeat of
  every event before the refused chunk, unnamed (750 in one run).

Real agent, strict Fluentd peer (tests/peers/forward_server.py): it acks the first chunk, then stores and never acks
(in_forward behind a proxy that eats acks), until the output has given up on it; then it acks again and a SIGHUP
(which retries a refused output at once) lets the rest through. Counted line by line at the peer.
"""
from __future__ import annotations

import json
import re
import signal

from tests.e2e.fluentd_agent import run_agent, stored, write_lines
from tests.peers.forward_server import ForwardServer
from tests.support import stop_process, wait_until

LINES = 400
CHUNK = 100  # the output's batch_size: the first batch (400 lines) goes in 4 chunks


class _StopsAckingAfterTheFirstChunk(ForwardServer):
    """Acks the first chunk; from the second on it stores each chunk and answers nothing, until `mode` is set back
    to "ack"."""

    def _store(self, tag, entries, option):
        super()._store(tag, entries, option)
        if len(self.chunks) == 2:
            self.mode = "no_ack"


def _config(tmp_path, port: int):
    cfg = {"state_dir": str(tmp_path / "state"), "shutdown_timeout": 5,
           "sources": [{"name": "app", "type": "file", "paths": [str(tmp_path / "app.log")], "parser": "json",
                        "batch_size": LINES, "parse_workers": 0}],
           "outputs": [{"type": "fluentd", "name": "fwd", "host": "127.0.0.1", "port": port,
                        "batch_size": CHUNK, "ack_timeout": 1, "backoff_max": 1}]}
    path = tmp_path / "cfg.yaml"
    path.write_text(json.dumps(cfg))  # JSON is YAML
    return path


def test_every_copy_a_server_that_stops_acking_stored_is_named_once(tmp_path):
    peer = _StopsAckingAfterTheFirstChunk().start()
    journal = tmp_path / "agent.err"
    (tmp_path / "app.log").touch()
    agent = run_agent(_config(tmp_path, peer.port), journal)
    try:
        write_lines(tmp_path / "app.log", "a", 0, LINES)
        wait_until(lambda: "output refused by the server" in journal.read_text(), 120, "the output to give up acks")
        peer.mode = "ack"
        agent.send_signal(signal.SIGHUP)  # a reload retries a refused output at once
        wait_until(lambda: len(stored(peer)) == LINES, 120, "every line at the peer")
    finally:
        stop_process(agent, 60)
        peer.stop()
    copies = stored(peer)
    assert set(copies) == {("a", n) for n in range(LINES)}
    repeated = sum(c - 1 for c in copies.values())
    text = journal.read_text()
    named = sum(int(n) for n in re.findall(r"possible repeat of (\d+) events", text))
    assert repeated > 0, "nothing was stored twice: the premise of this test did not occur"
    assert named == repeated, (f"{repeated} events stored more than once, {named} named:\n"
                               + "\n".join(ln for ln in text.splitlines() if "repeat" in ln or "refused" in ln))
