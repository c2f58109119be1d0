"""Attack 28 (exam28): `shipper run … 2>&1 | less` (or `2>&1 | collector`), the reader at the end of its screen: stdout
and the journal share one pipe, which the agent's lines fill. The operator presses Ctrl-C (less ignores SIGINT), then
again. docs/operations.md: a stop ends within `shutdown_timeout` + 5 s "however many outputs are wedged", and "a second
signal exits at once". Neither holds: the agent's threads block writing journal lines into the full pipe (every
thread of it that writes waits in anon_pipe_write), and it is still there 40 s after one SIGINT (shutdown_timeout 5)
and 40 s after two — until the reader reads again or someone kills it. With the journal on a file instead
(`2> err`), the same two signals end it in 0.6 s, naming the cut batch. By hand: two signals 2 of 2, one signal 1 of
1. What should hold: a stop, and a second signal above all, never waits on the journal's own writes: a line that
stderr cannot take now is dropped and counted (or sent to syslog), as the journal does when stderr's reader is gone."""
from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import termios
import time
from pathlib import Path

import pytest

from tests.journal_sinks import SHIPPER, numbered
from tests.support import read_steady, wait


def _unread(fd: int) -> int:
    return int.from_bytes(fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"), "little")

pytestmark = pytest.mark.slow  # (a stalled pipe, waits of seconds)


def test_two_signals_end_the_agent_whose_journal_shares_a_stalled_pipe(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    log = logs / "a.log"
    log.write_text(numbered(0, 100))
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(json.dumps({"state_dir": str(tmp_path / "state"), "shutdown_timeout": 5,
                               "sources": [{"name": "app", "type": "file", "paths": [str(logs / "*.log")],
                                            "parser": "json", "poll_interval": 0.2}],
                               "outputs": [{"type": "stdout"}]}))
    read_end, write_end = os.pipe()
    agent = subprocess.Popen([SHIPPER, "run", "-c", str(cfg)], stdout=write_end, stderr=write_end)  # 2>&1 | less
    os.close(write_end)
    try:
        got = b""
        end = time.monotonic() + 60
        while got.count(b'{"n":') < 100 and time.monotonic() < end:
            got += os.read(read_end, 65536)
        assert got.count(b'{"n":') >= 100, got[-800:]
        with open(log, "a") as f:
            f.write(numbered(100, 5000))  # fills the pipe: less at the end of its screen reads no more
        assert read_steady(lambda: _unread(read_end), lambda n: n > 50_000, 60) > 50_000, "the pipe did not fill"
        agent.send_signal(signal.SIGINT)  # Ctrl-C: less ignores it
        time.sleep(0.5)
        agent.send_signal(signal.SIGINT)  # and again
        ended = wait(lambda: agent.poll() is not None, 20)
    finally:
        if agent.poll() is None:
            agent.kill()
            agent.wait()
        os.close(read_end)
    assert ended, "two SIGINTs did not end the agent within 20 s: it waits on its journal's writes into the full pipe"
