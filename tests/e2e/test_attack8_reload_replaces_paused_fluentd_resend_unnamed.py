"""Black-box attack 8 (operator, issue 23: reloads): `systemctl reload shipper` after changing one setting of a
Fluentd output (its flush_interval; same server) while that Fluentd is paused (SIGSTOPped: its kernel takes
the connection's bytes, the process reads nothing, acks nothing); then the Fluentd resumes.
Promised: docs/operations.md "Reloads": a send the close cut short "may still have reached the old server ...
sent again to the replacement (at-least-once for that output only)", and README "Known limits": each such
resend "is named in the journal (`the chunk will be sent again … the server may have stored the chunk`)".
Found: the replaced output's connection is closed with 8 chunks written into the paused server's socket; the
server stores them when it resumes, and the replacement sends them again: 800 of 3,000 numbered events stored
twice on that server, and the journal names no possible resend (only "batches a closed output did not deliver
are read again for the outputs that did not store them"). In 2 of 2 runs by hand (/tmp/ar/p15.py), 2 of 2 here.
The same close at a stop: test_attack8_stop_frozen_fluentd_resend_unnamed.py."""
from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections import Counter

import pytest

from tests.e2e.reload_overlap import on, seq_list
from tests.peers.forward_server import ForwardServer
from tests.support import stop_process, wait, wait_until
from tests.tail.attack_agent import free_port, numbered

pytestmark = pytest.mark.slow

LINES = 3000


def test_a_reload_replacing_a_paused_fluentd_output_names_the_resend_it_may_cause(tmp_path):
    peer = ForwardServer(port=free_port()).start()
    peer.frozen.set()  # accepted connection, nothing read: a SIGSTOPped Fluentd
    log = tmp_path / "app.log"
    log.write_text("".join(numbered(i) for i in range(LINES)))
    cfg = tmp_path / "shipper.yaml"

    def write_config(flush_interval: float) -> None:
        cfg.write_text(f"""
state_dir: {tmp_path}/state
shutdown_timeout: 2
sources:
  - {{name: app, type: file, paths: ["{log}"], parser: json, batch_size: 100}}
outputs:
  - {{type: stdout}}
  - {{type: fluentd, name: fa, host: 127.0.0.1, port: {peer.port}, flush_interval: {flush_interval}, ack_timeout: 600}}
""")

    write_config(0.2)
    out = tmp_path / "stdout.jsonl"
    journal = tmp_path / "agent.err"
    with open(out, "wb") as o, open(journal, "wb") as e:
        agent = subprocess.Popen([sys.executable, "-m", "shipper.cli", "run", "-c", str(cfg)], stdout=o, stderr=e)
    try:
        wait_until(lambda: peer.connections >= 1 and len(seq_list(out)) >= 100, 60, "stdout shipping, fa holding chunks")
        time.sleep(2)  # more chunks written into the paused server's socket
        write_config(0.3)  # fa changed: replaced
        agent.send_signal(signal.SIGHUP)
        wait_until(lambda: b"outputs_replaced=fa" in journal.read_bytes(), 60, "the reload replacing fa done")
        peer.frozen.clear()  # Fluentd resumes
        complete = wait(lambda: set(range(LINES)) <= set(on(peer)) and set(range(LINES)) <= set(seq_list(out)), 60)
        time.sleep(1)  # any late repeat
    finally:
        stop_process(agent)
        peer.stop()
    got = on(peer)
    assert complete, f"{len(set(got))} of {LINES} on fluentd, {len(set(seq_list(out)))} on stdout"
    assert not [s for s, n in Counter(seq_list(out)).items() if n > 1], "lines twice on stdout"
    twice = sorted(s for s, n in Counter(got).items() if n > 1)
    text = journal.read_text()
    assert not twice or "may have stored" in text, (
        f"{len(twice)} events stored twice on fa's server ({twice[:1]}..{twice[-1:]}), the journal naming no resend")
