"""A SIGHUP to `shipper run --once` (a `systemctl reload` of a timer's service, a script's `kill -HUP`) while it
waits for a Fluentd that is down. --once does not reload (docs/writing-plugins.md: "Under `run --once` there are no
reloads"): the signal was ignored without a word, so the operator took the edited config for applied. Now the
journal says once that it is ignored, and the run goes on with the config it started with."""
from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections import Counter

import pytest

from tests.peers.forward_server import ForwardServer
from tests.support import stop_process
from tests.tail.attack_agent import append_numbered, free_port

pytestmark = pytest.mark.slow

IGNORED = "SIGHUP ignored: run --once does not reload"


def _config(tmp_path, paths: list, port: int) -> str:
    return f"""
state_dir: {tmp_path}/state
sources:
  - {{name: app, type: file, paths: [{", ".join(map(str, paths))}], parser: json}}
outputs:
  - {{type: fluentd, name: fd, host: 127.0.0.1, port: {port}, flush_interval: 0.2, backoff_max: 1}}
"""


def test_a_sighup_to_run_once_is_named_once_and_the_run_keeps_its_config(tmp_path):
    a_log, b_log = tmp_path / "a.log", tmp_path / "b.log"
    append_numbered(a_log, 0, 50)
    append_numbered(b_log, 1000, 1050)
    peer = ForwardServer(port=free_port())  # not started: Fluentd is down
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(_config(tmp_path, [a_log], peer.port))
    err_path = tmp_path / "agent.err"
    with open(err_path, "wb") as err:
        proc = subprocess.Popen([sys.executable, "-m", "shipper.cli", "run", "--once", "--timeout", "120", "-c",
                                 str(cfg)], stdout=subprocess.DEVNULL, stderr=err)

    def journal() -> str:
        return err_path.read_text(errors="replace")

    def wait_for(text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while text not in journal() and time.monotonic() < deadline:
            assert proc.poll() is None, journal()
            time.sleep(0.05)
        assert text in journal(), journal()
    try:
        wait_for("fluentd delivery failed", 60)  # the run is under way, its batch waiting for Fluentd
        cfg.write_text(_config(tmp_path, [a_log, b_log], peer.port))
        proc.send_signal(signal.SIGHUP)
        wait_for(IGNORED, 30)
        proc.send_signal(signal.SIGHUP)  # a second one: already said
        assert proc.poll() is None, journal()
        peer.start()
        assert proc.wait(90) == 0, journal()
    finally:
        stop_process(proc)
        peer.stop()
    assert journal().count(IGNORED) == 1, journal()
    seqs = Counter(r["generic"]["seq"] for _tag, _t, r in list(peer.records))
    assert seqs == Counter(range(50)), f"not a.log's 50 lines once each (b.log read: the edit applied?): {seqs}"
