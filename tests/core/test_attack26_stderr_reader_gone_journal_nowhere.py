"""Attack 26 (exam26d): the journal's reader goes away while the agent runs — `shipper run 2> >(logger -t shipper)` or
`2>&1 | tee -a …` and that process killed, a log collector reading the agent's stderr pipe restarted. Session 25 made a
start with stderr closed send the journal to syslog, or refuse to run "with nowhere to say what it loses"
(docs/operations.md, "Standard error closed"). Found by hand (1 of 1, and 1 of 1 in this test): with stderr a pipe
whose reader then closed, every later journal line met EPIPE and went nowhere — a FIFO matched by the paths, named
once, was named to no one; so would be any `data lost` — while the agent ran on, shipping, /health `ok`, exit 0 at
the stop. Nothing reached the syslog socket it would have used. What should hold: once stderr breaks, the journal
goes where it goes when stderr is closed (syslog), saying so, or the agent says it has nowhere to say what it
loses. Fixed: shipper.log.JournalHandler moves the journal to syslog at the first EPIPE
(journal_syslog.take_broken_stderr)."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.support import stop_process, wait

SHIPPER = str(Path(sys.executable).with_name("shipper"))


def _numbered(lo: int, hi: int) -> str:
    return "".join(json.dumps({"n": i}) + "\n" for i in range(lo, hi))


def _received(sock: socket.socket) -> list[str]:
    got = []
    while True:
        try:
            got.append(sock.recv(65536).decode(errors="replace"))
        except BlockingIOError:
            return got


def test_the_journal_outlives_its_stderr_reader(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    log = logs / "a.log"
    log.write_text(_numbered(0, 10))
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(json.dumps({"state_dir": str(tmp_path / "state"),
                               "sources": [{"name": "app", "type": "file", "paths": [str(logs / "*.log")],
                                            "parser": "json", "poll_interval": 0.2}],
                               "outputs": [{"type": "stdout"}]}))
    out = tmp_path / "out.jsonl"
    path = tmp_path / "syslog.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as syslog, open(out, "wb") as out_file:
        syslog.bind(str(path))
        syslog.setblocking(False)
        syslog.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        read_end, write_end = os.pipe()
        agent = subprocess.Popen([SHIPPER, "run", "-c", str(cfg)], stdout=out_file, stderr=write_end,
                                 env={**os.environ, "SHIPPER_SYSLOG_SOCKET": str(path)})
        os.close(write_end)
        try:
            assert wait(lambda: out.read_bytes().count(b"\n") >= 10, 60), "the first lines were not shipped"
            assert b"msg=started" in os.read(read_end, 65536)
            os.close(read_end)  # the journal's reader goes away
            time.sleep(0.5)
            os.mkfifo(logs / "pipe.log")  # a warning: named once
            with open(log, "a") as f:
                f.write(_numbered(10, 20))
            assert wait(lambda: out.read_bytes().count(b"\n") >= 20, 60), "the lines after were not shipped"
            time.sleep(2)
            running = agent.poll() is None
        finally:
            stop_process(agent, 30)
        got = _received(syslog)
    said = [m for m in got if "pipe.log" in m]
    assert said or not running, f"the agent ran on with its journal going nowhere; syslog received {got}"
    assert any("the reader of standard error went away (EPIPE): the journal goes to syslog" in m for m in got), got
    assert all(m.startswith("<") and "shipper[" in m for m in got), f"a line without its priority and identifier: {got}"
