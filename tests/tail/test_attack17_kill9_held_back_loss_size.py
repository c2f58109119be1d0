"""Examiner attack13 (session 19, issue 13): a kill -9 while the reader is held back (Fluentd down) and Log4j 1.2
rotates past MaxBackupIndex=1, then a restart at once with the output still down: the rotated files the killed agent
held are gone with its descriptors, a loss no agent can prevent, but the next start names it with a known size far
below what was lost: `data lost: 25300 bytes of app.log were deleted … before they could be read`
(size_known=True, shipper_bytes_lost 25,300) while 46,909 lines (~1.17 MB) were lost. With a 5 s pause before the
restart it said `an unknown number of bytes`, which is true. A loss must be named with its size or as of unknown
size, never as a smaller certain one."""
from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.java.writers import Log4j, compile_writers
from tests.peers.forward_server import ForwardServer

SHIPPER = str(Path(sys.executable).parent / "shipper")
LINE = '{"seq":%d,"pad":"x"}\n'


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(cond, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def _start(cfg: Path, err: Path) -> subprocess.Popen:
    started = err.read_text().count("msg=started") + 1 if err.exists() else 1
    agent = subprocess.Popen([SHIPPER, "run", "-c", str(cfg)], stdout=subprocess.DEVNULL, stderr=err.open("ab"))
    _wait(lambda: err.read_text().count("msg=started") >= started or agent.poll() is not None, 90, "started")
    assert agent.poll() is None, err.read_text()
    return agent


@pytest.mark.xfail(strict=False, reason="after a kill -9 while held back and an immediate restart, the loss of the "
                   "rotated files the killed agent held is named with a certain size far below the loss (25,300 "
                   "bytes named, ~1.17 MB lost); it should be named as of unknown size, or with its size. Depends on "
                   "where the kill lands (the load): not strict")
def test_kill9_while_held_back_names_the_loss_not_a_smaller_size(tmp_path, tmp_path_factory):
    classes = compile_writers(tmp_path_factory.getbasetemp() / "log4j-classes")
    logs = tmp_path / "logs"
    logs.mkdir()
    (tmp_path / "state").mkdir()
    peer = ForwardServer(port=_free_port()).start()
    http = _free_port()
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
    port: {peer.port}
""")
    err = tmp_path / "agent.err"
    count = 60_000
    agent = _start(cfg, err)
    writer = Log4j(classes).log4j1(logs / "app.log", 50_000, 1, 0, count, 3000, wait=False)
    try:
        _wait(lambda: len(peer.records) >= 3000, 60, "the first lines")
        peer.stop()
        # held back: the holder holds the files Log4j deletes; wait until it holds several
        _wait(lambda: json.loads(urllib.request.urlopen(f"http://127.0.0.1:{http}/status", timeout=30).read())
              ["sources"]["app"]["status"]["held_files"] >= 5, 60, "held files")
        agent.kill()
        agent.wait()
        agent = _start(cfg, err)
        peer.start()
        writer.wait(120)
        _wait(lambda: any(r["generic"]["seq"] == count - 1 for _, _, r in list(peer.records)), 120, "the last line")
    finally:
        if writer.poll() is None:
            writer.kill()
        agent.send_signal(signal.SIGTERM)
        try:
            agent.wait(60)
        except subprocess.TimeoutExpired:
            agent.kill()
            agent.wait()
        peer.stop()
    got = {r["generic"]["seq"] for _, _, r in peer.records}
    lost_bytes = sum(len(LINE % i) for i in range(count) if i not in got)
    journal = err.read_text()
    if not lost_bytes or "an unknown number of bytes" in journal:
        return
    named = sum(int(n) for n in re.findall(r"data lost: (\d+) bytes", journal))
    assert named >= lost_bytes, f"{lost_bytes} bytes lost, {named} named (as certain); journal:\n{journal}"
