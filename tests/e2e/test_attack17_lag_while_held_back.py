"""Examiner attack13 (session 19, issue 13): while the reader is held back (the output down) and the log rotates, the
source's lag says 0. With the Fluentd output down and Debian's Log4j 1.2 rotating past MaxBackupIndex=1 (1.43 MB
written), /status said `lag_bytes` 0 while it held 14 deleted files unread (`held_bytes` 1,200,085), and its one
file line was `app.log`, `position 45879`, `size 41900`, `lag 0` (`shipper status`: "app.log: position 45879 of
41900 bytes, lag 0"): the read position of the rotated file the reader is in, set against the size of the new live
file (2 of 2 script runs; also "position 62370 of 57678 bytes, lag 0"). In this test (3 of 3) lag_bytes stays below
the held files' bytes alone (207,979 with 950,304 held; 426,987 with 750,240): the held files are not in the lag. An
operator watching lag during an outage sees a source nearly up to date.
Fixed (lead): the lag adds what the holder's files not taken by the tailer hold unread (Holder.unread_bytes), and a
followed file's size is at least its position and its size now (its size at its last read's end was shown while a
read held up by backpressure had moved the position on)."""
from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.java.writers import Log4j, compile_writers

SHIPPER = str(Path(sys.executable).parent / "shipper")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _status(port: int) -> dict:
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=30).read()
    return json.loads(body)["sources"]["app"]["status"]


def test_lag_counts_what_the_held_back_reader_has_not_read(tmp_path, tmp_path_factory):
    classes = compile_writers(tmp_path_factory.getbasetemp() / "log4j-classes")
    logs = tmp_path / "logs"
    logs.mkdir()
    http, down = _free_port(), _free_port()  # nothing listens on `down`: the Fluentd output is down throughout
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(f"""state_dir: {tmp_path / 'state'}
shutdown_timeout: 5
http: {{listen: "127.0.0.1:{http}"}}
sources:
  - name: app
    type: file
    paths: [{logs / 'app.log'}]
    parser: json
    read_from: beginning
outputs:
  - type: fluentd
    host: 127.0.0.1
    port: {down}
""")
    (tmp_path / "state").mkdir()
    err = tmp_path / "agent.err"
    agent = subprocess.Popen([SHIPPER, "run", "-c", str(cfg)], stdout=subprocess.DEVNULL, stderr=err.open("wb"))
    try:
        deadline = time.monotonic() + 60
        while "msg=started" not in err.read_text() and time.monotonic() < deadline:
            assert agent.poll() is None, err.read_text()
            time.sleep(0.1)
        # ~1.5 MB in 50 KB files, one backup kept: the reader stops under backpressure after a few files, the
        # holder keeps the rest open as Log4j deletes them
        Log4j(classes).log4j1(logs / "app.log", 50_000, 1, 0, 60_000, 0, timeout=120)
        deadline = time.monotonic() + 60
        status = _status(http)
        while time.monotonic() < deadline:
            status = _status(http)
            if status["held_bytes"] > 0 and status == _status(http):
                break
            time.sleep(0.5)
        assert status["held_bytes"] > 200_000, f"the holder should hold the deleted backups: {status}"
        files = [f"{f['path']}: position {f['position']} of {f['size']}" for f in status["files"] if f["position"] > f["size"]]
        assert not files, f"a read position beyond its file's size: {files}"
        assert status["lag_bytes"] >= status["held_bytes"], \
            f"lag_bytes {status['lag_bytes']} while {status['held_bytes']} bytes of deleted files are held unread"
    finally:
        agent.send_signal(signal.SIGTERM)
        try:
            agent.wait(60)
        except subprocess.TimeoutExpired:
            agent.kill()
            agent.wait()
