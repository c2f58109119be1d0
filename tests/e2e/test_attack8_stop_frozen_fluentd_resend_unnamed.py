"""Black-box attack 8 (operator, issue 13: stops of a long-running agent): `systemctl stop shipper` while
the Fluentd it ships to is paused (SIGSTOPped: its kernel still takes the connection's bytes, the process
reads nothing, acks nothing), then the Fluentd resumes and shipper starts again.
Promised (README "Known limits"): "A SIGTERM stop repeats nothing"; Fluentd's acks are at-least-once, and a
chunk "sent again and may be stored twice" has "each such resend named in the journal (`the chunk will be
sent again … the server may have stored the chunk`)".
Found: the chunks written into the paused server's socket are read and stored by it when it resumes, and
the next start sends them again: 800 of 1,000 numbered events stored twice (8 batches of 100), and the
journal says only "the stop came before the server took the chunk" (the server's kernel had taken every
byte), naming no possible resend. In 3 of 3 runs by hand (also with a SIGHUP during the stop), 2 of 2 here."""
from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections import Counter

import pytest

from tests.e2e.reload_overlap import on
from tests.peers.forward_server import ForwardServer
from tests.support import stop_process, wait, wait_until
from tests.tail.attack_agent import free_port, numbered

pytestmark = pytest.mark.slow

LINES = 1000


def test_a_stop_while_fluentd_is_paused_repeats_nothing_or_names_the_resend(tmp_path):
    peer = ForwardServer(port=free_port()).start()
    peer.frozen.set()  # accepted connection, nothing read: a SIGSTOPped Fluentd
    log = tmp_path / "app.log"
    log.write_text("".join(numbered(i) for i in range(LINES)))
    cfg = tmp_path / "shipper.yaml"
    cfg.write_text(f"""
state_dir: {tmp_path}/state
shutdown_timeout: 2
sources:
  - {{name: app, type: file, paths: ["{log}"], parser: json, batch_size: 100}}
outputs:
  - {{type: fluentd, name: fa, host: 127.0.0.1, port: {peer.port}, flush_interval: 0.2, ack_timeout: 600}}
""")
    journal = tmp_path / "agent.err"
    runs = []
    try:
        with open(journal, "ab") as e:
            runs.append(subprocess.Popen([sys.executable, "-m", "shipper.cli", "run", "-c", str(cfg)],
                                         stdout=subprocess.DEVNULL, stderr=e))
        wait_until(lambda: peer.connections >= 1 and b"parsing" in journal.read_bytes(), 60, "a chunk sent")
        time.sleep(2)  # more chunks written into the paused server's socket
        runs[0].send_signal(signal.SIGTERM)
        assert runs[0].wait(60) == 1  # batches undelivered: read again at the next start
        peer.frozen.clear()  # Fluentd resumes
        with open(journal, "ab") as e:
            runs.append(subprocess.Popen([sys.executable, "-m", "shipper.cli", "run", "-c", str(cfg)],
                                         stdout=subprocess.DEVNULL, stderr=e))
        complete = wait(lambda: set(range(LINES)) <= set(on(peer)), 60)
        time.sleep(1)  # any late repeat
    finally:
        for r in runs:
            stop_process(r)
        peer.stop()
    got = on(peer)
    assert complete, f"{len(set(got))} of {LINES} on fluentd"
    twice = sorted(s for s, n in Counter(got).items() if n > 1)
    text = journal.read_text()
    assert not twice or "may have stored" in text, (
        f"{len(twice)} events stored twice ({twice[:1]}..{twice[-1:]}), the journal naming no resend: "
        + "; ".join(line for line in text.splitlines() if "undelivered" in line))
