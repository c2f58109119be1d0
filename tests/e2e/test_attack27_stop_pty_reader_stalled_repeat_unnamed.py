"""Attack 27 (exam27b): stdout on a terminal (a pty: `docker run -t`, `ssh -t`, `script`, a tmux pane) whose reader
stalls (dockerd held by its log driver, a stalled ssh connection, a pane in copy mode), and a stop (SIGTERM:
`docker stop`). docs/operations.md ("stdout"): into a pipe or a Unix stream socket a batch counts only once its reader
has taken it, and a stop while the reader stalls names the lines of the cut batch the reader has (`the agent ends
inside a write it cannot cut (its reader does not read): N of the 1000 lines of its batch were written, and are
written again at the next start (a repeat)`); a pipe's writes are whole lines (PIPE_BUF) at most. Into a pty neither
holds: the stop says only `shutdown timeout` and `stopped with batches undelivered; they are read again next start`,
and the reader, once it goes on, reads 39 whole lines and the head of a 40th from the pty's buffers; the next start
writes them again: 39 repeated and a cut line, named nowhere. Found by hand 2 of 2 (raw mode; 39 and 1 both times).
(A terminal stopped with Ctrl-S, XOFF, held: what it held back never reached the reader.) What should hold: the stop
names the lines a pty's reader gets twice (the kernel counts a tty's unread output too), or writes none it cannot
count."""
from __future__ import annotations

import fcntl
import json
import os
import pty
import select
import signal
import struct
import subprocess
import sys
import termios
import time
import tty
from collections import Counter
from pathlib import Path

import pytest

from tests.support import read_steady, stop_process, wait

pytestmark = pytest.mark.slow  # (two agents, a stop that waits its shutdown_timeout)

SHIPPER = str(Path(sys.executable).with_name("shipper"))
FIRST = 2000
TOTAL = 12000


def _numbered(lo: int, hi: int) -> str:
    return "".join(json.dumps({"seq": i}) + "\n" for i in range(lo, hi))


def _unread(master: int) -> int:
    """Bytes waiting to be read on the pty's master side (FIONREAD)."""
    return struct.unpack("i", fcntl.ioctl(master, termios.FIONREAD, b"\0\0\0\0"))[0]


def test_a_stop_into_a_stalled_pty_names_the_repeat(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    log = logs / "a.log"
    log.write_text(_numbered(0, FIRST))
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(json.dumps({"state_dir": str(tmp_path / "state"), "shutdown_timeout": 8,
                               "sources": [{"name": "app", "type": "file", "paths": [str(logs / "*.log")],
                                            "parser": "json", "poll_interval": 0.2}],
                               "outputs": [{"type": "stdout"}]}))
    master, slave = pty.openpty()
    tty.setraw(slave)  # the bytes as written (no \n -> \r\n): what a log collector on the master keeps
    err = tmp_path / "first.err"
    with open(err, "wb") as err_file:
        agent = subprocess.Popen([SHIPPER, "run", "-c", str(cfg)], stdout=slave, stderr=err_file,
                                 start_new_session=True)
    os.close(slave)
    got = bytearray()
    try:
        deadline = time.monotonic() + 60
        while got.count(b"\n") < FIRST and time.monotonic() < deadline:
            if select.select([master], [], [], 1)[0]:
                got += os.read(master, 65536)
        assert got.count(b"\n") >= FIRST, "the first lines were not shipped"
        with open(log, "a") as f:
            f.write(_numbered(FIRST, TOTAL))  # the reader stalls now: the pty's buffers fill
        # until the pty's buffers hold the agent's writes and take no more (on a loaded host that can take seconds)
        assert read_steady(lambda: _unread(master), lambda n: n > 0, 60) > 0, "the agent wrote nothing into the pty"
        time.sleep(1)
        agent.send_signal(signal.SIGTERM)
        agent.wait(60)
    finally:
        stop_process(agent, 30)
    while select.select([master], [], [], 1)[0]:  # the reader goes on: what the pty held
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: no slave left open
            break
        if not chunk:
            break
        got += chunk
    os.close(master)
    first: list[int] = []
    cut = 0
    for line in bytes(got).split(b"\n"):
        if line:
            try:
                first.append(json.loads(line)["generic"]["seq"])
            except ValueError:
                cut += 1
    out = tmp_path / "second.jsonl"
    with open(out, "wb") as out_file:
        second = subprocess.Popen([SHIPPER, "run", "-c", str(cfg)], stdout=out_file, stderr=subprocess.DEVNULL)
    try:
        assert wait(lambda: out.read_bytes().count(b"\n") >= TOTAL - len(set(first)), 120), "the rest was not shipped"
        time.sleep(1)
    finally:
        stop_process(second, 30)
    counts = Counter(first + [json.loads(line)["generic"]["seq"] for line in out.read_bytes().splitlines()])
    assert set(counts) == set(range(TOTAL)), "lines are missing"
    repeated = sum(n - 1 for n in counts.values())
    said = err.read_text()
    named = [ln for ln in said.splitlines() if "repeat" in ln and str(repeated) in ln]
    assert (repeated == 0 and cut == 0) or named, (
        f"{repeated} lines written twice and {cut} cut line(s) in the pty, named nowhere: "
        + "\n".join(ln[:300] for ln in said.splitlines() if "level=info" not in ln))
