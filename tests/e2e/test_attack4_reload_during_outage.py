"""Black-box attack 4: a reload (SIGHUP changing a source's `tags`) while the output is down and the log
rotates past its last backup. Without the reload the held rotated files carry the outage and nothing is
lost (README, issue 13); docs/operations.md promises a changed source "starts again from its checkpoint.
Nothing is repeated and nothing lost, also when an output is down"."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter

import pytest

from tests.peers.forward_server import ForwardServer
from tests.support import wait_until
from tests.tail.attack_agent import free_port, numbered

pytestmark = pytest.mark.slow

LINES, PER_FILE, BACKUPS = 10000, 400, 2


def log4j_writer(logs, done: threading.Event) -> None:
    """MaxBackupIndex=2 rollover every 400 lines, ~1000 lines/s."""
    live = logs / "app.log"
    f = open(live, "a")
    try:
        for i in range(1, LINES):
            f.write(numbered(i))
            f.flush()
            if i % PER_FILE == 0:
                f.close()
                if (logs / "app.log.2").exists():
                    os.unlink(logs / "app.log.2")
                if (logs / "app.log.1").exists():
                    os.rename(logs / "app.log.1", logs / "app.log.2")
                os.rename(live, logs / "app.log.1")
                f = open(live, "a")
            if i % 50 == 0:
                time.sleep(0.05)
    finally:
        f.close()
        done.set()


def go_down_between_chunks(peer: ForwardServer) -> None:
    """The peer stops once every chunk it took is answered. Stopped between a chunk's store and its ack
    (a loaded machine stretches that moment: once under `-n 2`, 10 events repeated; with a 0.15 s
    delay_ack, 300-400 in 3 of 3 runs), the agent sends that chunk again and it is stored twice: the
    at-least-once the agent names (`the server may have stored the chunk`; README, Known limits), not
    this test's subject."""
    peer.frozen.set()  # reads nothing more; a chunk read already is stored and answered
    wait_until(lambda: peer.acks == sum(1 for c in list(peer.chunks) if c), 30, "every chunk taken answered")
    time.sleep(0.2)  # (the ack is counted just before it is sent)
    peer.stop()
    peer.frozen.clear()


def test_reload_while_output_down_and_log_rotates_loses_nothing(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "app.log").write_text(numbered(0))
    peer = ForwardServer(port=free_port()).start()
    cfg = tmp_path / "cfg.yaml"
    base = f"""
state_dir: {tmp_path}/state
shutdown_timeout: 3
sources:
  - name: app
    type: file
    paths: [{logs}/app.log*]
    parser: json
    poll_interval: 0.2
outputs:
  - type: fluentd
    host: 127.0.0.1
    port: {peer.port}
    flush_interval: 0.2
    backoff_max: 1
"""
    cfg.write_text(base)
    err = open(tmp_path / "err", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "shipper.cli", "run", "-c", str(cfg)], stdout=err, stderr=err)
    err.close()
    done = threading.Event()
    writer = threading.Thread(target=log4j_writer, args=(logs, done), daemon=True)

    def seqs():
        return [r.get("generic", {}).get("seq") for _, _, r in list(peer.records)]
    try:
        assert peer.wait_for_records(1, timeout=60), (tmp_path / "err").read_text()
        writer.start()
        time.sleep(1.5)
        go_down_between_chunks(peer)  # the output goes down; the log goes on rotating
        time.sleep(1.5)
        cfg.write_text(base.replace("    parser: json", "    parser: json\n    tags: [changed]"))
        proc.send_signal(signal.SIGHUP)
        time.sleep(5)
        peer.start()
        assert done.wait(120)
        deadline = time.monotonic() + 90
        seen, quiet_since = 0, time.monotonic()
        while time.monotonic() < deadline and not set(range(LINES)) <= set(seqs()):
            if len(peer.records) != seen:
                seen, quiet_since = len(peer.records), time.monotonic()
            elif time.monotonic() - quiet_since > 15:  # nothing more is coming
                break
            time.sleep(0.3)
    finally:
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(60)
        writer.join(120)
        peer.stop()
    assert rc == 0
    counts = Counter(seqs())
    missing = sorted(set(range(LINES)) - set(counts))
    repeated = sorted(k for k, v in counts.items() if v > 1)
    assert not missing and not repeated, (f"{len(missing)} missing (e.g. {missing[:3]}), {len(repeated)} repeated; "
                                          + (tmp_path / "err").read_text()[-1500:])
