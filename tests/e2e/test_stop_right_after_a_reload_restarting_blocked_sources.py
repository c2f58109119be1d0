"""A stop right after a reload that restarts sources whose threads are blocked (issue 13; attack 7's residual:
"two sources on one file with 3 wedged outputs overran a stop to 13.3 s, shutdown_timeout 5, 2 of 3 runs").
Two file sources with a backlog (parsed in their own threads) go to stdout and to a Fluentd that reads nothing
(a frozen peer): each source thread hands its batch to stdout, then waits for room in the Fluentd output's full
queue, a put that only the agent's stop gives up (once one output has a batch, the others must get it too). A
reload changes both sources' tags, and a stop follows a second later. docs/operations.md: a stop ends within
shutdown_timeout + 5 s. Found: the reload cut its own wait at the stop, but then joined each stopped source's
thread for up to 5 s, one after the other, before the stop began its own shutdown_timeout and the outputs' 5 s:
the stop took 15.2 s (limit 7; 10.7 s with one source's thread blocked). Now 5.4 s."""
from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.peers.forward_server import ForwardServer
from tests.support import stop_process, wait_until
from tests.tail.attack_agent import free_port, numbered

pytestmark = pytest.mark.slow

SHUTDOWN_TIMEOUT = 2
SLACK = 3  # "a few seconds" on a loaded 2-core machine


def fluentd_queue(port: int) -> float:
    """The Fluentd output's batches queued or being sent (the agent's /metrics)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
            text = r.read().decode()
    except OSError:
        return 0.0
    found = re.search(r'^shipper_in_flight_batches\{output="fluentd"\} (\S+)$', text, re.M)
    return float(found.group(1)) if found else 0.0


def test_a_stop_right_after_a_reload_restarting_blocked_sources_ends_in_time(tmp_path):
    peer = ForwardServer(port=free_port()).start()
    peer.frozen.set()  # accepts, reads nothing: every chunk waits for its ack for ever
    for name in ("a", "b"):
        (tmp_path / f"{name}.log").write_text("".join(numbered(i, pad=200) for i in range(20_000)))
    cfg = tmp_path / "shipper.yaml"
    http = free_port()

    def write_config(tags: str) -> None:
        cfg.write_text(f"""
state_dir: {tmp_path}/state
shutdown_timeout: {SHUTDOWN_TIMEOUT}
http: {{listen: "127.0.0.1:{http}"}}
sources:
  - {{name: a, type: file, paths: ["{tmp_path}/a.log"], parser: json, batch_size: 100, parse_workers: 0, tags: [{tags}]}}
  - {{name: b, type: file, paths: ["{tmp_path}/b.log"], parser: json, batch_size: 100, parse_workers: 0, tags: [{tags}]}}
outputs:
  - {{type: stdout}}
  - {{type: fluentd, host: 127.0.0.1, port: {peer.port}, flush_interval: 0.2, ack_timeout: 1000, timeout: 1000}}
""")

    write_config("first")
    journal = tmp_path / "agent.err"
    with open(journal, "wb") as err:
        agent = subprocess.Popen([sys.executable, "-m", "shipper.cli", "run", "-c", str(cfg)],
                                 stdout=subprocess.DEVNULL, stderr=err)
    took = None
    try:
        wait_until(lambda: peer.connections >= 1, 60, "the output connected")
        # both sources blocked: stdout took their batches, the Fluentd output's queue is full (8 batches)
        wait_until(lambda: fluentd_queue(http) >= 8, 60, "the Fluentd output's queue full")
        write_config("second")  # both sources change: a restart each
        agent.send_signal(signal.SIGHUP)
        wait_until(lambda: b"reloading" in journal.read_bytes(), 30, "the reload started")
        time.sleep(1)
        started = time.monotonic()
        agent.send_signal(signal.SIGTERM)
        try:
            agent.wait(SHUTDOWN_TIMEOUT + 60)
            took = time.monotonic() - started
        except subprocess.TimeoutExpired:
            pass
    finally:
        stop_process(agent)
        peer.stop()
    text = journal.read_text(errors="replace")
    assert took is not None and took <= SHUTDOWN_TIMEOUT + 5 + SLACK, (
        f"the stop took {took if took is None else round(took, 1)} s, promised {SHUTDOWN_TIMEOUT} + 5 s; "
        + text[-800:])
    assert "Traceback" not in text
