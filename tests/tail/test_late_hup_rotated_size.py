"""logrotate `create` renames the log and makes a new empty one; the writer writes on into the renamed file
(app.log.1) until `postrotate` makes it reopen its log (a HUP, maybe late). A stop in between, then the writer's last
lines into app.log.1, its HUP, and a rotation past the backups while the agent is stopped: app.log.1 is gone at the
next start. It was named by its size at the stop as an exact size (`N bytes of app.log.1`), or, read to that size,
not named at all, whatever its writer wrote to it after the stop (session 22, 1 of 1 each before the fix: 200 lines
lost without a word; 100 lines named as an exact size with 300 lost). Its family's live file was still empty at the
stop: the writer had not moved on, so the next start names it "or more", or, read to its end, as possibly lost."""
from __future__ import annotations

import json
import os
import re
import signal
import time
from pathlib import Path

import pytest

from tests.e2e.fluentd_agent import line, metric, start_agent, stored
from tests.peers.forward_server import ForwardServer
from tests.support import wait, wait_until
from tests.tail.attack_agent import Agent, free_port, logrotate_of, numbered

pytestmark = pytest.mark.slow


class Writer:
    """A daemon's writer: it holds its log open (O_APPEND) and reopens it by its name only when told (its HUP)."""

    def __init__(self, path: Path):
        self.path = path
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def write(self, data: str) -> None:
        os.write(self.fd, data.encode())

    def hup(self) -> None:
        os.close(self.fd)
        self.fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def close(self) -> None:
        os.close(self.fd)


def _lost_warnings(journal: str, path: str) -> list[dict[str, str]]:
    """The journal's `data lost` / `data possibly lost` lines naming `path`, as {msg, bytes_lost, size_known}."""
    out = []
    for text in journal.splitlines():
        if "data lost" not in text and "data possibly lost" not in text:
            continue
        fields = dict(re.findall(r'(\w+)=("(?:[^"\\]|\\.)*"|\S+)', text))
        if fields.get("path", "").strip('"') == path:
            out.append({k: v.strip('"') for k, v in fields.items()})
    return out


def test_a_rotated_file_read_to_its_end_and_written_on_after_the_stop_is_not_gone_silently(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    log = logs / "app.log"
    w = Writer(log)
    rotate = logrotate_of(tmp_path, log, "rotate 1\ncreate")
    agent = Agent(tmp_path, [log])
    numbers = lambda lo, hi: "".join(numbered(i) for i in range(lo, hi))  # noqa: E731
    try:
        w.write(numbers(0, 300))
        agent.start()
        assert agent.wait_delivered(range(300))
        rotate()  # app.log -> app.log.1, a new empty app.log; no HUP yet
        w.write(numbers(300, 400))  # into app.log.1
        assert agent.wait_delivered(range(400))
        assert agent.stop() == 0
        w.write(numbers(400, 600))  # still into app.log.1: the HUP comes late
        w.hup()
        w.write(numbers(600, 700))
        rotate()  # app.log.1 deleted (rotate 1), app.log -> app.log.1
        w.hup()
        w.write(numbers(700, 800))
        agent.start()
        # Until the lines still on disk arrived and app.log.1 was named (its loss is not counted: waiting for a
        # count, this waited its whole 30 s), then 3 s more, in which a second naming of it would come
        kept = set(range(400)) | set(range(600, 800))
        wait(lambda: kept <= set(agent.seqs()) and _lost_warnings(agent.errors(), f"{log}.1"), 30, every=0.2)
        time.sleep(3)
        assert agent.stop() == 0
    finally:
        w.close()
        if agent.proc is not None and agent.proc.poll() is None:
            agent.proc.kill()
    missing = set(range(800)) - set(agent.seqs())
    assert missing == set(range(400, 600)), sorted(missing)[:5]  # (the writer's lines after the stop: deleted)
    named = _lost_warnings(agent.errors(), f"{log}.1")
    assert [(w["size_known"], "its writer may have written on" in w["msg"]) for w in named] == [("False", True)], \
        agent.errors()


def test_a_rotated_file_read_in_part_and_written_on_after_the_stop_is_named_or_more(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    log = logs / "app.log"
    peer = ForwardServer(port=free_port()).start()
    http_port = free_port()
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(json.dumps({
        "state_dir": str(tmp_path / "state"), "shutdown_timeout": 3, "http": {"listen": f"127.0.0.1:{http_port}"},
        "sources": [{"name": "app", "type": "file", "paths": [str(log)], "parser": "json", "batch_size": 100,
                     "parse_workers": 0}],
        "outputs": [{"type": "fluentd", "name": "fwd", "host": "127.0.0.1", "port": peer.port, "backoff_max": 1.0,
                     "flush_interval": 0.2}]}))
    journal = tmp_path / "journal.log"
    w = Writer(log)
    rotate = logrotate_of(tmp_path, log, "rotate 1\ncreate")
    lines = lambda src, lo, hi: "".join(line(src, i) for i in range(lo, hi))  # noqa: E731
    w.write(lines("a", 0, 300))
    agent = start_agent(cfg, journal)
    try:
        wait_until(lambda: len(stored(peer)) >= 300, 120, "the first 300 lines delivered")
        peer.stop()
        rotate()  # app.log -> app.log.1, a new empty app.log; no HUP yet
        w.write(lines("b", 0, 100))  # into app.log.1: read, not delivered
        wait_until(lambda: metric(http_port, 'shipper_in_flight_batches{output="fwd"} 1.0'), 120, "b's batch")
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(60) == 1, journal.read_text()  # its batch undelivered
        w.write(lines("c", 0, 200))  # still into app.log.1: the HUP comes late
        w.hup()
        w.write(lines("d", 0, 100))
        rotate()  # app.log.1 deleted (rotate 1), app.log -> app.log.1
        w.hup()
        w.write(lines("z", 0, 1))  # the last line: the server has all it will get once it has this one
        peer.start()
        agent = start_agent(cfg, journal)
        wait_until(lambda: ("z", 0) in stored(peer), 120, "the last line")
        end = time.monotonic() + 30  # (the next start names a file gone after two scans a second apart)
        while not _lost_warnings(journal.read_text(), f"{log}.1") and time.monotonic() < end:
            time.sleep(0.1)
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(60) == 0, journal.read_text()
    finally:
        w.close()
        if agent.poll() is None:
            agent.kill()
        peer.stop()
    counts = stored(peer)
    assert sorted({src for src, _n in counts}) == ["a", "d", "z"], sorted({src for src, _n in counts})
    named = _lost_warnings(journal.read_text(), f"{log}.1")
    b_bytes = sum(len(line("b", i)) for i in range(100))
    assert [(int(w["bytes_lost"]), w["size_known"]) for w in named] == [(b_bytes, "False")], journal.read_text()
