"""kill -9 cycles under logrotate `create` + `compress` + `delaycompress`, shipping to Elasticsearch: a
line read again after a crash is the same document whichever file it is read from (the live file, its
rotated name, or the `.gz` made of it while the agent was down), so Elasticsearch answers its replay
with a 409 and stores it once. Session 9 saw 610 and 1,530 lines stored twice in a chaos run with
reloads and outputs flapping. Real logrotate; the glob matches the backups themselves (`app.log*`), as
in that run. The first cycles hold the commit back by stopping the checkpoint writer (SIGSTOP: the
frozen state_dir of docs/operations.md), so the batches stored before the kill -9 are certainly sent
again, from app.log.1 or from a .gz; the last ones kill right after the first batch of a large append
is stored. Counted line by line: every line in Elasticsearch exactly once, the replays answered 409.
Found: the live file `create` makes is followed while empty (an inode-only placeholder saved); its
identity was saved only with its first batch, so a kill -9 after that batch's delivery left the
placeholder alone committed, and the .gz made of it was read as a new file under another file id:
1,000 lines stored twice in 3 of 4 runs (tests/tail/test_identified_unread_rotated.py has it in-process)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from collections import Counter
from pathlib import Path

import pytest

from tests.peers.bulk_server import BulkServer
from tests.support import stop_process, wait, wait_until, writer_pid
from tests.tail.attack_agent import free_port

pytestmark = pytest.mark.slow
LOGROTATE = "/usr/sbin/logrotate"


def lines(first: int, count: int) -> str:
    return "".join(json.dumps({"@timestamp": "2026-01-01T00:00:00Z", "seq": i, "msg": "x" * 40}) + "\n"
                   for i in range(first, first + count))


class World:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.es = BulkServer(port=free_port()).start()
        logs = tmp / "logs"
        logs.mkdir()
        self.live = logs / "app.log"
        self.live.write_text("")
        self.lr = tmp / "lr.conf"
        self.lr.write_text(f"{self.live} {{\n  rotate 20\n  create\n  compress\n  delaycompress\n  missingok\n}}\n")
        self.cfg = tmp / "shipper.yaml"
        self.port = free_port()
        self.cfg.write_text(f"""
state_dir: {tmp}/state
shutdown_timeout: 5
http: {{listen: "127.0.0.1:{self.port}"}}
sources:
  - {{name: app, type: file, paths: ["{logs}/app.log*"], parser: json, poll_interval: 0.2}}
outputs:
  - {{type: elasticsearch, hosts: ["{self.es.url}"], flush_interval: 0.2}}
""")
        self.err = open(tmp / "agent.err", "ab")
        self.agent: subprocess.Popen | None = None
        self.writer: int | None = None
        self.seq = 0

    def start(self) -> None:
        self.agent = subprocess.Popen([sys.executable, "-m", "shipper.cli", "run", "-c", str(self.cfg)],
                                      stdout=subprocess.DEVNULL, stderr=self.err)

    def write(self, n: int) -> None:
        """n lines appended in one write: read as one batch when the agent is idle."""
        fd = os.open(self.live, os.O_WRONLY | os.O_APPEND)
        try:
            data = lines(self.seq, n).encode()
            assert os.write(fd, data) == len(data)
        finally:
            os.close(fd)
        self.seq += n

    def committed(self) -> bool:
        """Every batch read is stored and its checkpoint committed (none in flight)."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/status", timeout=5) as r:
                return json.loads(r.read())["sources"]["app"]["in_flight_batches"] == 0
        except (OSError, ValueError, KeyError):
            return False

    def rotate(self) -> None:
        subprocess.run([LOGROTATE, "-f", "-s", str(self.tmp / "lr.state"), str(self.lr)], check=True)

    def stored(self) -> Counter:
        with self.es._lock:
            docs = list(self.es.docs.values())
        return Counter((d.get("generic") or {}).get("seq") for d in docs)

    def wait_stored(self, what: str) -> None:
        # every document read at each poll: polled every 0.2 s, not 0.05, to leave the CPU to the agent
        wait_until(lambda: set(range(self.seq)) <= set(self.stored()), 120, what, every=0.2)

    def hold_commits(self) -> None:
        """The next commit does not return: the one batch stored after it is stored, not committed (the
        output's thread waits in that commit, so nothing after it is sent)."""
        wait_until(self.committed, 60, "the batches read so far committed")
        self.writer = writer_pid(self.agent.pid)
        os.kill(self.writer, signal.SIGSTOP)

    def kill9(self) -> None:
        self.agent.kill()
        self.agent.wait(30)
        if self.writer is not None:
            os.kill(self.writer, signal.SIGKILL)
            self.writer = None

    def close(self) -> None:
        if self.writer is not None:
            os.kill(self.writer, signal.SIGKILL)
        if self.agent is not None:
            stop_process(self.agent)
        self.err.close()
        self.es.stop()


def test_kill9_replays_after_delaycompress_are_stored_once(tmp_path):
    w = World(tmp_path)
    try:
        w.write(200)
        w.start()
        w.wait_stored("the first lines stored")
        held = 0
        # rotations while the agent is down after each held kill: 1 leaves the content read at app.log.1
        # (its own inode), 2 compresses it to app.log.2.gz (another inode), 3 to app.log.3.gz
        for rotations in (1, 2, 1, 3, 2):
            w.hold_commits()
            w.write(300)  # stored, its checkpoint held back
            w.wait_stored(f"{w.seq} lines stored with the commit held")
            w.kill9()
            held += 300
            for _ in range(rotations):
                w.rotate()
                w.write(50)
            w.start()
            w.wait_stored(f"{w.seq} lines stored after the restart")
            wait(lambda: w.es.conflicts >= held, 60)  # (what the read-back decides lands before the stop)
        for _ in range(3):  # a kill at no chosen moment: within or right after a large append
            w.write(5000)
            wait_until(lambda: len(w.stored()) > w.seq - 5000, 120, "part of the append stored")
            w.kill9()
            w.rotate()
            w.write(50)
            w.rotate()
            w.start()
            w.wait_stored(f"{w.seq} lines stored after the restart")
        stored, conflicts = w.stored(), w.es.conflicts
    finally:
        w.close()
    twice = sorted(k for k, v in stored.items() if v > 1)
    assert set(stored) == set(range(w.seq)), sorted(set(range(w.seq)) ^ set(stored))[:10]
    assert conflicts >= held, f"{conflicts} replays answered 409, {held} lines were held back"
    assert not twice, (f"{len(twice)} lines stored twice (e.g. {twice[:5]}): "
                       + (tmp_path / "agent.err").read_text(errors="replace")[-1500:])
