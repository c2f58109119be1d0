"""Issue 13/23: kill -9 during a reload's hand-over. A SIGHUP that restarts a file source while its output
is down stops the source, waits `shutdown_timeout` for its batches, takes back those no output was
sending, and restarts the source once the ones being sent complete, handing what it holds to its
successor (Source.restarting/hand_over/take_over) — so the hand-over itself comes when the output
returns. The agent is killed at moments across that window (output down; output just back), restarted,
reloaded and killed again, then left to deliver. No file leaves the disk (10 backups): nothing may be
missing, and only what was in flight at a kill may come twice (at most max_in_flight_batches x
batch_size lines a kill: far less than a rotated file, which a wrong checkpoint would read again)."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter

import pytest

from tests.peers.forward_server import ForwardServer
from tests.tail.attack_agent import free_port, numbered

pytestmark = pytest.mark.slow

PER_FILE, BACKUPS = 150, 10
BATCH, IN_FLIGHT = 20, 2
# (seconds after the SIGHUP the output comes back, or None: it stays down; seconds after that, the kill).
# shutdown_timeout is 2: batches are taken back at ~2 s, those being sent awaited until the output is back.
KILLS = [(None, 0.05), (None, 1.5), (None, 2.6), (2.5, 0.0), (2.5, 0.3), (2.5, 0.8), (2.5, 1.5), (0.5, 0.5)]

def rotate(logs) -> None:
    """Log4j 1.2's rollover, MaxBackupIndex=BACKUPS."""
    live = logs / "app.log"
    if (logs / f"app.log.{BACKUPS}").exists():
        (logs / f"app.log.{BACKUPS}").unlink()
    for i in range(BACKUPS - 1, 0, -1):
        if (logs / f"app.log.{i}").exists():
            (logs / f"app.log.{i}").rename(logs / f"app.log.{i + 1}")
    live.rename(logs / "app.log.1")


def write(logs, start: int, n: int) -> int:
    with open(logs / "app.log", "a") as f:
        for i in range(start, start + n):
            f.write(numbered(i))
    return start + n


def test_kill9_at_any_moment_of_a_reload_handover_loses_and_repeats_nothing(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    peer = ForwardServer(port=free_port()).start()
    http = free_port()
    cfg = tmp_path / "cfg.yaml"

    def config(tag: str) -> str:
        return f"""
state_dir: {tmp_path}/state
http: {{listen: "127.0.0.1:{http}"}}
shutdown_timeout: 2
sources:
  - name: app
    type: file
    paths: [{logs}/app.log*]
    parser: json
    poll_interval: 0.2
    batch_size: {BATCH}
    tags: [{tag}]
outputs:
  - type: fluentd
    host: 127.0.0.1
    port: {peer.port}
    flush_interval: 0.1
    backoff_max: 0.5
    max_in_flight_batches: {IN_FLIGHT}
"""
    runs: list[subprocess.Popen] = []

    def start() -> subprocess.Popen:
        err = open(tmp_path / f"err{len(runs)}", "wb")
        proc = subprocess.Popen([sys.executable, "-m", "shipper.cli", "run", "-c", str(cfg)], stdout=err, stderr=err)
        err.close()
        runs.append(proc)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # until its file source has looked at the files
            assert proc.poll() is None, errors()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{http}/status", timeout=5) as r:
                    if (json.loads(r.read()).get("sources", {}).get("app", {}).get("status") or {}).get("files"):
                        return proc
            except (OSError, ValueError):
                pass
            time.sleep(0.1)
        raise AssertionError("shipper did not scan in time: " + errors())

    def errors() -> str:
        return "".join((tmp_path / f"err{i}").read_text(errors="replace") for i in range(len(runs)))

    def seqs() -> list:
        return [r.get("generic", {}).get("seq") for _, _, r in list(peer.records)]

    seq = write(logs, 0, PER_FILE)
    cfg.write_text(config("t0"))
    proc = start()
    try:
        assert peer.wait_for_records(PER_FILE, timeout=60), errors()
        peer.stop()  # the output is down, but for the moments below
        for n, (back_after, kill_after) in enumerate(KILLS, 1):
            rotate(logs)
            seq = write(logs, seq, PER_FILE)
            time.sleep(0.5)  # read into batches the output cannot take
            cfg.write_text(config(f"t{n}"))
            proc.send_signal(signal.SIGHUP)
            if back_after is not None:
                time.sleep(back_after)
                peer.start()
            time.sleep(kill_after)
            proc.kill()
            proc.wait(30)
            peer.stop()
            proc = start()
        peer.start()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not set(range(seq)) <= set(seqs()):
            time.sleep(0.3)
        time.sleep(1.0)  # (a repeat would come right behind)
    finally:
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(60)
        peer.stop()
    assert rc == 0, errors()[-2000:]
    counts = Counter(seqs())
    missing = sorted(set(range(seq)) - set(counts))
    repeated = sorted(k for k, v in counts.items() if v > 1)
    in_flight = sum(1 for back, _ in KILLS if back is not None) * BATCH * IN_FLIGHT
    assert not missing and len(repeated) <= in_flight, (
        f"{len(missing)} missing (e.g. {missing[:5]}), {len(repeated)} repeated (e.g. {repeated[:5]}); at most "
        f"{in_flight} could be in flight at the kills; " + errors()[-3000:])
    assert "data lost" not in errors()
