"""Examiner exam13 (session 20): SIGTERM while the agent catches up after an output outage, a Log4j 1.2 writer
(MaxBackupIndex=2) rotating on while it is stopped; then a start.

By hand (80,000 lines at 2,000 lines/s, a 20 s Fluentd outage, the state_dir on an 8 MB tmpfs filled and freed
every 4 s, the stop 5 s after the output came back): the stop named the rotated files it held open unread
(`data lost: 1038408 bytes … 11 rotated file(s) … the agent stopped before they were read`) and the next start
the files deleted while it was stopped, yet 132,024-200,016 bytes more were lost with no word (3 of 3 runs; in
the third, exactly two whole 100,008-byte files between the held ones and the oldest backup at the stop), and the
next start named `data lost: 5592 bytes or more of app.log … the file was deleted` for a file that was still
there as app.log.1 and whose lines were all delivered. Without the tmpfs (this test, and 2 runs by hand) the same:
the next start names the live log's loss by its size at the stop (`data lost: 34080 bytes of app.log were deleted
… before they could be read`, a certain size, no "or more") though the writer wrote on to 100,008 bytes before
rotating it away (65,928 and 64,584 bytes unnamed, exactly that growth); once (test run 1) it named nothing at all
and 300,024 bytes (three whole files) went unnamed, and the stop said `undelivered=?`. Every lost byte must be
named: the sum of the sizes named (`bytes_lost=`) covers what did not arrive, unless a warning says its size is
unknown or a lower bound ("or more"). Test run 3 (70,000 lines, the stop clean, `delivered=True`): 1,153,344
bytes lost, 336,672 named: the files born after the stop and deleted before the start (Log4j 1.2 leaves no trace of
them) went unnamed, though the start finds every file it knew at the stop deleted (the indices moved further than it
saw: a loss of unknown size, as issue 13 asks for a frozen agent).
"""
from __future__ import annotations

import re
import signal
import time
from pathlib import Path

import pytest

from tests.e2e.fluentd_agent import run_agent
from tests.java.writers import Log4j, compile_writers
from tests.peers.forward_server import ForwardServer
from tests.support import wait
from tests.tail.seq_log import seqs

LINES = 70000  # 35 s of writing: it goes on after the stop even on a loaded host
RATE = 2000


def _line_bytes(seq: int) -> int:
    return len('{"seq":%d,"pad":"x"}\n' % seq)


@pytest.mark.xfail(strict=False, reason=(
    "exam13: a SIGTERM while the agent catches up after an outage (Log4j 1.2, MaxBackupIndex=2, rotating on while "
    "it is stopped): the next start names the live log's loss by its size at the stop as certain, though it grew "
    "until rotated away, and at times whole rotated files go unnamed (64-300 KB unnamed, 8 of 8 runs); every lost "
    "byte should be named, or the size said to be a lower bound. Load-dependent timing: non-strict"))
def test_stop_during_catch_up_names_every_lost_byte(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    classes = compile_writers(tmp_path_factory.getbasetemp() / "exam13-java")
    logs = tmp_path / "logs"
    logs.mkdir()
    peer = ForwardServer().start()
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(f"state_dir: {tmp_path}/state\nshutdown_timeout: 5\nsources:\n"
                   f"  - name: app\n    type: file\n    paths: [{logs}/app.log]\n    parser: json\n"
                   f"outputs:\n  - type: fluentd\n    host: 127.0.0.1\n    port: {peer.port}\n    ack_timeout: 5\n")
    j1, j2 = tmp_path / "agent1.log", tmp_path / "agent2.log"
    agent = run_agent(cfg, j1, timeout=120)
    writer = Log4j(classes).log4j1(logs / "app.log", 100_000, 2, 1, LINES, rate=RATE, wait=False)
    agent2 = None
    try:
        assert wait(lambda: len(seqs(peer)) >= 4000, 60), "nothing delivered before the outage"
        peer.stop()
        time.sleep(8)  # the outage: the writer rotates past MaxBackupIndex, the holder holds what it rotates away
        peer.start()
        before = len(seqs(peer))
        assert wait(lambda: len(seqs(peer)) >= before + 2000, 60), "no catch-up after the outage"
        agent.send_signal(signal.SIGTERM)  # in the middle of the catch-up
        agent.wait(60)
        assert writer.poll() is None, "the writer ended before the agent stopped: the attack did not happen"
        writer.wait(120)  # the writer goes on, rotating, while the agent is stopped
        agent2 = run_agent(cfg, j2, timeout=120)
        # then: everything still on disk arrives; wait until no more comes
        last, stable_since = -1, time.monotonic()
        while time.monotonic() - stable_since < 5:
            n = len(seqs(peer))
            if n != last:
                last, stable_since = n, time.monotonic()
            if n >= LINES:
                break
            time.sleep(0.2)
        agent2.send_signal(signal.SIGTERM)
        agent2.wait(60)
    finally:
        for p in (writer, agent, agent2):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()
        peer.stop()
    got = seqs(peer)
    lost_bytes = sum(_line_bytes(s) for s in range(1, LINES + 1) if s not in got)
    journal = j1.read_text(errors="replace") + j2.read_text(errors="replace")
    named = sum(int(b) for b in re.findall(r"bytes_lost=(\d+)", journal))
    unknown = re.findall(r"data lost: (?:an unknown number of bytes|\d+ bytes or more)[^\n]*", journal)
    if not unknown:
        assert named >= lost_bytes, f"{lost_bytes} bytes lost, {named} named"
    assert lost_bytes > 0 or named == 0, f"nothing lost, yet {named} bytes named lost"
