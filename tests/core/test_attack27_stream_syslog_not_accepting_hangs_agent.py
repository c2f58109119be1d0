"""Attack 27 (exam27b): the journal on a Unix *stream* syslog socket (stderr closed, `2>&-`; syslog-ng's `unix-stream`,
which session 26 connects to), and the daemon restarted into a state where it does not accept: bound and listening,
its accept queue full (a syslog-ng hung on its own disk while the host's other programs keep connecting; here a
listen backlog of 0 and a client already waiting). docs/operations.md ("Standard error closed"): a syslog daemon that
stops reading "never stops the agent"; the backlog waits, lines past it are dropped and counted. But a connect to a
stream socket whose accept queue is full blocks until the daemon accepts: the agent's reconnect (at its next journal
line after the restart) sleeps in the kernel (`unix_wait_for_peer`), the threads that log wait behind it, the lines
appended next are never shipped, and SIGTERM does not end the agent (killed after 40 s). Found by hand 2 of 2 (the
other threads in futex waits). A start whose stream syslog is in that state hangs the same way before it ships
anything (1 of 1: 15 s, 0 lines, no word in the kernel's log). What should hold: the journal's socket never stops
the agent: the connect does not block (non-blocking, or within a bound), lines wait in the backlog or are counted,
and a stop ends within its documented time."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support import stop_process, wait

SHIPPER = str(Path(sys.executable).with_name("shipper"))
pytestmark = pytest.mark.slow  # (waits of tens of seconds while it fails)


def _numbered(lo: int, hi: int) -> str:
    return "".join(json.dumps({"n": i}) + "\n" for i in range(lo, hi))


def test_a_stream_syslog_that_does_not_accept_stops_neither_shipping_nor_the_stop(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    log = logs / "a.log"
    log.write_text(_numbered(0, 10))
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(json.dumps({"state_dir": str(tmp_path / "state"), "shutdown_timeout": 10,
                               "sources": [{"name": "app", "type": "file", "paths": [str(logs / "*.log")],
                                            "parser": "json", "poll_interval": 0.2}],
                               "outputs": [{"type": "stdout"}]}))
    path = tmp_path / "syslog.sock"
    out = tmp_path / "out.jsonl"
    waiting: list[socket.socket] = []
    first = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    first.bind(str(path))
    first.listen(5)
    first.settimeout(60)
    with open(out, "wb") as out_file:
        agent = subprocess.Popen(["sh", "-c", 'exec "$@" 2>&-', "sh", SHIPPER, "run", "-c", str(cfg)],
                                 stdout=out_file, env={**os.environ, "SHIPPER_SYSLOG_SOCKET": str(path)})
    try:
        conn = first.accept()[0]
        assert wait(lambda: out.read_bytes().count(b"\n") >= 10, 60), "the first lines were not shipped"
        conn.close()  # the daemon restarts ...
        first.close()
        os.unlink(path)
        second = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        second.bind(str(path))
        second.listen(0)  # ... and accepts no one: its queue holds one connection, which another client has
        for _ in range(2):
            client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            client.setblocking(False)
            try:
                client.connect(str(path))
            except BlockingIOError:
                pass
            waiting.append(client)
        os.mkfifo(logs / "pipe.log")  # a journal line: the agent connects again
        time.sleep(3)
        with open(log, "a") as f:
            f.write(_numbered(10, 20))
        shipped = wait(lambda: out.read_bytes().count(b"\n") >= 20, 20)
        agent.send_signal(signal.SIGTERM)
        started = time.monotonic()
        try:
            code: int | None = agent.wait(30)  # shutdown_timeout, its 5 s, the backlog's 3 s, slack
        except subprocess.TimeoutExpired:
            code = None
        took = time.monotonic() - started
    finally:
        stop_process(agent, 5)
        for client in waiting:
            client.close()
    assert shipped, "the lines appended after syslog's restart were not shipped"
    assert code is not None, f"SIGTERM did not end the agent within {took:.0f} s"
