"""Examiner exam13 (session 20): kill -9 during a Fluentd outage while Log4j 1.2 (MaxBackupIndex=2, 2,500 lines/s,
100 KB files) rotates past its backups, the agent restarted at once (still in the outage), the output back later.

What the killed agent's holder held (the files rotated away during the outage) is lost with it: a kill -9 saves
nothing, so the next start can only name it of unknown size, and it does in most runs (`data lost: an unknown
number of bytes of app.log written after the last read …`). In 2 of 5 runs by hand it named instead a small certain
size, `data lost: 736 bytes of app.log were deleted … before they could be read` (bytes_lost=736, 204,425 lost;
another run 2,783 named, 203,850 lost; one of them with the restarted agent also frozen 5 s, the other not). This is
attack13's find (6), whose non-strict xfail tests/tail/test_attack17_kill9_held_back_loss_size.py passed on
today's main: the fault is rarer, not gone. This test, with --runxfail on main: 2 of 3 failed (1,036,833 bytes lost,
204,024 named; 1,336,092 lost, 858,984 named), 1 passed (named of unknown size).
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

LINES = 60000
RATE = 2500


def _line_bytes(seq: int) -> int:
    return len('{"seq":%d,"pad":"x"}\n' % seq)


@pytest.mark.xfail(strict=False, reason=(
    "exam13: a kill -9 during an outage while Log4j 1.2 rotates past MaxBackupIndex, restarted at once: in 2 of 5 "
    "runs the next start names the held files' loss as a small certain size (736 bytes named, 204,425 lost) instead "
    "of an unknown one; every lost byte should be named or the size said unknown. Timing-dependent: non-strict"))
def test_kill9_in_outage_restart_names_loss_size_honestly(tmp_path: Path,
                                                          tmp_path_factory: pytest.TempPathFactory) -> None:
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
        delivered = max(seqs(peer))

        def oldest_on_disk() -> int:
            try:
                with open(logs / "app.log.2") as f:
                    return int(f.readline().split(":")[1].split(",")[0])
            except (OSError, ValueError, IndexError):
                return 0
        # the outage goes on until lines never delivered are in files the writer deleted (only the holder has them)
        assert wait(lambda: oldest_on_disk() > delivered + 5000, 60), "the writer did not rotate past the outage"
        agent.send_signal(signal.SIGKILL)
        agent.wait(30)
        agent2 = run_agent(cfg, j2, timeout=120)  # at once, still in the outage
        assert writer.poll() is None, "the writer ended before the restart: the attack did not happen"
        writer.wait(120)
        peer.start()
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
    assert lost_bytes > 0, "nothing lost: the kill came when the holder held nothing"
    if not unknown:
        assert named >= lost_bytes, f"{lost_bytes} bytes lost, {named} named"
