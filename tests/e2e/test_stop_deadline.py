"""A stop with several wedged outputs waits one deadline, not one per output."""
from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time

import orjson

from tests.peers.forward_server import ForwardServer
from tests.support import wait_until

SHIPPER = [sys.executable, "-m", "shipper.cli"]
OUTPUTS = 6


def test_stop_with_six_wedged_outputs_closes_them_together(tmp_path):
    peer = ForwardServer()
    peer.frozen.set()  # accepts connections, reads nothing: every output hangs in its send
    peer.start()
    log = tmp_path / "useraction.log"
    log.write_bytes(b"".join(orjson.dumps({"timestamp": "2026-01-02 03:04:05", "action-type": "FILESYSTEM",
                                           "action": "EDIT", "performing-user": f"user{i}"}) + b"\n"
                             for i in range(300)))
    outs = "".join(f"""  - type: fluentd
    name: fwd{i}
    port: {peer.port}
    flush_interval: 0.1
    timeout: 60
    ack_timeout: 60
""" for i in range(OUTPUTS))
    cfg = tmp_path / "shipper.yaml"
    cfg.write_text(f"""state_dir: {tmp_path / 'state'}
shutdown_timeout: 2
sources:
  - name: dm
    type: file
    paths: [{log}]
    parser: datameer
outputs:
{outs}""")
    agent = subprocess.Popen(SHIPPER + ["run", "-c", str(cfg)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    err: list[bytes] = []
    threading.Thread(target=lambda: err.extend(agent.stderr), daemon=True).start()
    try:
        wait_until(lambda: peer.connections >= OUTPUTS, 120, "every output connected and sending")
        time.sleep(1)
        t0 = time.monotonic()
        agent.send_signal(signal.SIGTERM)
        agent.wait(180)
        took = time.monotonic() - t0
    finally:
        if agent.poll() is None:
            agent.kill()
        peer.frozen.clear()
        peer.stop()
    # shutdown_timeout (2 s) + one close deadline (5 s) for all six; one after another it would be
    # 2 + 6 × 5 = 32 s. The bound leaves room for a loaded machine, not for a serial close.
    assert took < 25, f"stop took {took:.0f}s\n" + b"".join(err).decode()
    assert agent.returncode == 1, b"".join(err).decode()  # undelivered batches: said, and read again next start
