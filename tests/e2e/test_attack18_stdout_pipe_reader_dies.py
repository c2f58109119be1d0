"""Examiner exam13 (session 20): stdout into a pipe whose reader is slow, then stopped (SIGSTOP), then killed.

The agent runs as a daemon (`shipper run`, no `--once`) with its stdout the write end of a pipe. The reader reads
slowly, is stopped until the pipe holds at least 32 KiB, then killed. The agent meets EPIPE and ends with 141, as
documented. A second agent, writing to a file, then delivers the rest. Counted over both readers, every line must
arrive once, or what did not must be named: the dead reader's pipe held unread lines (the kernel still counts them
on the write end after the reader is gone: FIONREAD); if their batch had been written whole, it was checkpointed
and they are lost; if the batch was cut, the lines of it the reader had are written again at the next start.
Either way the first agent's journal said only `pipeline wedged: watchdog pings stopped reason="output stdout:
thread ended"` (seen 6 of 6 runs: 175-199 lines lost, or 338-768 lines repeated, no word of either).
Now (pipe13) a batch written into a pipe is acknowledged only once its reader took it (FIONREAD): nothing is lost,
and the one possible repeat, the lines of the unacknowledged batch the reader had, is named once with its count.
"""
from __future__ import annotations

import collections
import fcntl
import json
import os
import re
import signal
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

from tests.support import wait

pytestmark = pytest.mark.slow

SHIPPER = str(Path(sys.executable).parent / "shipper")
LINES = 30000

READER = r"""
import os, sys, time
out = open(sys.argv[1], "ab", buffering=0)
while True:
    b = os.read(0, 4096)
    if not b:
        break
    out.write(b)
    time.sleep(0.01)
"""


def _pipe_unread(fd: int) -> int:
    return struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"))[0]


def _seqs(blob: bytes, counter: collections.Counter) -> None:
    for line in blob.split(b"\n"):
        try:
            counter[json.loads(line)["generic"]["seq"]] += 1
        except (ValueError, KeyError, TypeError):
            pass  # the reader's last read may end mid-line: that line is counted from the second run


def _named(journal: str, words: tuple[str, ...]) -> list[str]:
    return [ln for ln in journal.splitlines()
            if ("level=warning" in ln or "level=error" in ln) and any(w in ln for w in words)]


@pytest.mark.parametrize("mode", [["run"], ["run", "--once"]], ids=["daemon", "once"])
def test_stdout_pipe_reader_killed_loses_nothing_and_names_its_repeat(tmp_path: Path, mode: list[str]) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    with open(logs / "app.log", "w") as f:
        for i in range(1, LINES + 1):
            f.write('{"seq":%d,"pad":"x"}\n' % i)
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(f"state_dir: {tmp_path}/state\nshutdown_timeout: 5\nsources:\n"
                   f"  - name: app\n    type: file\n    paths: [{logs}/app.log]\n    parser: json\n"
                   "outputs:\n  - type: stdout\n")
    (tmp_path / "reader.py").write_text(READER)
    got1, got2 = tmp_path / "got1.jsonl", tmp_path / "got2.jsonl"
    j1, j2 = tmp_path / "agent1.log", tmp_path / "agent2.log"

    r, w = os.pipe()
    reader = subprocess.Popen([sys.executable, str(tmp_path / "reader.py"), str(got1)], stdin=r)
    os.close(r)
    agent = subprocess.Popen([SHIPPER, *mode, "-c", str(cfg)], stdout=w, stderr=open(j1, "wb"))
    try:
        assert wait(lambda: got1.exists() and got1.stat().st_size > 100_000, 120), "the reader got nothing"
        os.kill(reader.pid, signal.SIGSTOP)
        assert wait(lambda: _pipe_unread(w) >= 32_768, 60), "the agent did not fill the pipe"
        os.kill(reader.pid, signal.SIGKILL)
        reader.wait(10)
        in_pipe = _pipe_unread(w)
        os.close(w)
        w = -1
        assert agent.wait(60) == 141
    finally:
        if w >= 0:
            os.close(w)
        for p in (reader, agent):
            if p.poll() is None:
                p.kill()
                p.wait()

    counter: collections.Counter = collections.Counter()
    _seqs(got1.read_bytes(), counter)
    agent2 = subprocess.Popen([SHIPPER, *mode, "-c", str(cfg)], stdout=open(got2, "wb"), stderr=open(j2, "wb"))
    try:
        def all_there() -> bool:
            c = collections.Counter(counter)
            _seqs(got2.read_bytes(), c)
            return len(c) >= LINES
        wait(all_there, 90)
        wait(lambda: "msg=started" in j2.read_text(errors="replace"), 60)
        if agent2.poll() is None:  # --once ends by itself
            agent2.send_signal(signal.SIGTERM)
        assert agent2.wait(30) == 0
    finally:
        if agent2.poll() is None:
            agent2.kill()
            agent2.wait()
    _seqs(got2.read_bytes(), counter)

    lost = [s for s in range(1, LINES + 1) if s not in counter]
    repeated = {s: n for s, n in counter.items() if n > 1}
    journal = j1.read_text(errors="replace") + j2.read_text(errors="replace")
    # A batch is acknowledged only once the reader took it: what the dead reader's pipe held is read again.
    assert not lost, f"{len(lost)} lines lost (from seq {lost[0]}; {in_pipe} bytes left unread in the pipe)"
    named = _named(journal, ("again",))
    if repeated:
        assert len(named) == 1, f"{len(repeated)} lines written twice, named {len(named)} times: {named}"
        count = re.search(r"repeated_lines=(\d+)", named[0])
        assert count and int(count.group(1)) >= len(repeated), (
            f"{len(repeated)} lines written twice, named with a smaller count: {named[0]}")
    assert "wedged" not in journal, "the reader's leaving was called a wedge"
