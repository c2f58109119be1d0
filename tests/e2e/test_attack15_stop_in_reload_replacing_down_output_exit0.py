"""A stop that lands while a reload replaces an output that is down says everything was delivered.

docs/operations.md ("Stopping"): a stop "exits with code 0, or 1 when batches were left undelivered
(systemd then shows the stop as failed, so someone looks)". Found by attack23 (session 17), from the docs
alone: the only output, a Fluentd that refuses connections, holds the source's 3,000 lines; a SIGHUP
changes one of its delivery settings (`batch_size`; a rename does the same) and a SIGTERM follows while
the reload is still draining. The agent exits 0 within a second and logs `stopped delivered=True`: not
one line was delivered (they are read again at the next start, so nothing is lost: only the exit code
and the words are wrong). 5 of 5 runs (gap 0.1 s and 1 s after the SIGHUP); a stop after the reload's
drain (3 s), or during a reload that changes the source and not the output, exits 1 as documented.
Cause: the reload took the batches back for its restarted source, which the stop kept from starting; with no
output having stored any of them there was no note to save (Pipeline._save_notes_for_stop, attack 9's fix), and
no tracker held them. Fixed: events a reload took back count as undelivered until a successor delivered them
again (AckTracker.read_again, Reloads.unread_again)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.peers.forward_server import ForwardServer

SHIPPER = str(Path(sys.executable).with_name("shipper"))
LINES = 3000


def _config(path: Path, state: Path, log: Path, port: int, **fluentd: object) -> None:
    out = {"type": "fluentd", "name": "fwd", "host": "127.0.0.1", "port": port}
    out.update(fluentd)
    cfg = {"state_dir": str(state), "shutdown_timeout": 5,
           "sources": [{"name": "app", "type": "file", "paths": [str(log)], "parser": "json",
                        "read_from": "beginning", "batch_size": 100}],
           "outputs": [out]}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(cfg))  # JSON is YAML
    os.replace(tmp, path)


def _wait_for(err: Path, text: str, since: int, proc: subprocess.Popen, timeout: float = 120) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in err.read_text(errors="replace")[since:]:
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.05)
    return False


@pytest.mark.slow
def test_stop_while_a_reload_replaces_a_down_output_exits_1(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    with log.open("w") as f:
        for n in range(LINES):
            f.write(json.dumps({"seq": n, "@timestamp": "2026-12-06T07:00:00Z", "message": f"line {n}"}) + "\n")
    server = ForwardServer().start()
    port = server.port
    server.stop()  # down: connections refused
    cfg, err = tmp_path / "shipper.yaml", tmp_path / "agent.err"
    _config(cfg, tmp_path / "state", log, port)
    with err.open("wb") as e:
        proc = subprocess.Popen([SHIPPER, "run", "-c", str(cfg)], stdout=subprocess.DEVNULL, stderr=e)
    try:
        # the output has batches in hand and failed to send them
        assert _wait_for(err, "fluentd delivery failed", 0, proc), err.read_text()
        _config(cfg, tmp_path / "state", log, port, batch_size=50)  # a delivery setting only
        since = len(err.read_text(errors="replace"))
        proc.send_signal(signal.SIGHUP)
        assert _wait_for(err, "msg=reloading", since, proc), err.read_text()
        proc.send_signal(signal.SIGTERM)  # well inside the reload's drain (shutdown_timeout 5 s)
        rc = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    journal = err.read_text(errors="replace")
    assert "delivered=True" not in journal, journal
    assert rc == 1, journal
    assert "undelivered" in journal, journal
