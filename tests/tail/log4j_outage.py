"""Examiner exam13's Log4j-outage scenario (session 20), shared by its two tests
(tests/tail/test_attack18_stop_in_catchup_loss_unnamed.py, tests/tail/test_attack18_kill9_outage_restart_loss_size.py):
a real agent follows app.log, which a Log4j 1.2 writer (100 KB files, MaxBackupIndex=2) fills with numbered lines
(`{"seq":N,"pad":"x"}`) and rotates, and ships it to the strict Fluentd peer, which the test stops (the outage) and
starts again on the same port. The agent's output retries at most a second apart (`backoff_max: 1`): with the default
30 s, a restarted agent was still waiting out its backoff when the test stopped it, so its lines still on disk counted
as lost (session 21: both "2 of 3" failures of the kill -9 test were that). What the tests then compare: the lines that
never arrived, in bytes, and the sizes the journals named lost."""
from __future__ import annotations

import json
import re
import signal
import subprocess
from pathlib import Path

import pytest

from tests.e2e.fluentd_agent import run_agent
from tests.java.writers import Log4j, compile_writers
from tests.peers.forward_server import ForwardServer
from tests.support import stop_process, wait, wait_until
from tests.tail.seq_log import seqs

FILE_BYTES = 100_000  # Log4j's MaxFileSize: it rotates once a file passes it
BACKUPS = 2  # MaxBackupIndex


def line_bytes(seq: int) -> int:
    return len('{"seq":%d,"pad":"x"}\n' % seq)


# A loss named of unknown size, or of a size that is the least lost: what it names covers any amount.
UNSIZED = re.compile(r"data lost: (?:an unknown number of bytes|\d+ bytes or more) of (\S+)")


class Log4jOutage:
    def __init__(self, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, lines: int, rate: int) -> None:
        self.lines = lines
        self.logs = tmp_path / "logs"
        self.logs.mkdir()
        self.peer = ForwardServer().start()
        self.cfg = tmp_path / "cfg.yaml"
        self.cfg.write_text(json.dumps({
            "state_dir": str(tmp_path / "state"), "shutdown_timeout": 5,
            "sources": [{"name": "app", "type": "file", "paths": [str(self.logs / "app.log")], "parser": "json"}],
            "outputs": [{"type": "fluentd", "host": "127.0.0.1", "port": self.peer.port, "ack_timeout": 5,
                         "backoff_max": 1.0}]}))  # JSON is YAML
        self.journals = [tmp_path / "agent1.log", tmp_path / "agent2.log"]
        self.agents: list[subprocess.Popen] = [run_agent(self.cfg, self.journals[0], timeout=120)]
        classes = compile_writers(tmp_path_factory.getbasetemp() / "exam13-java")
        self.writer = Log4j(classes).log4j1(self.logs / "app.log", FILE_BYTES, BACKUPS, 1, lines, rate=rate, wait=False)

    def delivered(self) -> set[int]:
        return seqs(self.peer)

    def on_disk(self) -> set[int]:
        """The lines in the files of the log on disk now."""
        out: set[int] = set()
        for p in self.logs.iterdir():
            try:
                text = p.read_text(errors="replace")
            except OSError:
                continue
            out.update(int(m) for m in re.findall(r'"seq":(\d+)', text))
        return out

    def oldest_on_disk(self) -> int:
        """The first line of the oldest backup (app.log.2), 0 while there is none."""
        try:
            with open(self.logs / "app.log.2") as f:
                return int(f.readline().split(":")[1].split(",")[0])
        except (OSError, ValueError, IndexError):
            return 0

    def outage_begins(self) -> None:
        """Once lines were delivered: the peer stops."""
        assert wait(lambda: len(self.delivered()) >= 4000, 60), "nothing delivered before the outage"
        self.peer.stop()

    def stop_agent(self, sig: signal.Signals = signal.SIGTERM) -> None:
        agent = self.agents[-1]
        agent.send_signal(sig)
        agent.wait(60)

    def start_again(self) -> None:
        self.agents.append(run_agent(self.cfg, self.journals[len(self.agents)], timeout=120))

    def writer_ends(self) -> None:
        self.writer.wait(120)

    def settle(self) -> None:
        """With the writer ended and the peer up: every line still on disk delivered by the running agent, and what
        it lost named (a missing file is called gone after two scans a second apart) or the wait run out; then it
        stops. It must stop having delivered everything."""
        assert self.writer.poll() is not None
        disk = self.on_disk()
        wait_until(lambda: disk <= self.delivered(), 90, "the lines still on disk to arrive")
        wait(lambda: self.lost_bytes() <= self.named() or self.unsized(), 30)
        self.stop_agent()
        assert "msg=stopped delivered=True" in self.journal(), "the last agent stopped with lines undelivered"

    def lost_bytes(self) -> int:
        got = self.delivered()
        return sum(line_bytes(s) for s in range(1, self.lines + 1) if s not in got)

    def journal(self) -> str:
        return "".join(j.read_text(errors="replace") for j in self.journals if j.exists())

    def named(self) -> int:
        """The bytes the journals named lost."""
        return sum(int(b) for b in re.findall(r"bytes_lost=(\d+)", self.journal()))

    def named_exactly(self) -> int:
        """The bytes the journals named lost as an exact size."""
        return sum(int(b) for b in re.findall(r"bytes_lost=(\d+) size_known=True", self.journal()))

    def unsized(self) -> list[str]:
        """The files named lost of unknown size, or of a size that is the least lost."""
        return UNSIZED.findall(self.journal())

    def assert_every_lost_byte_named(self) -> None:
        """Something was lost; no size named exactly is more than was lost (a false loss), and the sizes named cover
        what was lost unless a loss is named of unknown size or "or more"."""
        lost, exact = self.lost_bytes(), self.named_exactly()
        assert lost > 0, "nothing lost: the attack did not take"
        assert exact <= lost, f"{exact} bytes named lost as an exact size, {lost} lost"
        if not self.unsized():
            assert self.named() >= lost, f"{lost} bytes lost, {self.named()} named"

    def close(self) -> None:
        if self.writer.poll() is None:
            self.writer.kill()
            self.writer.wait()
        for agent in self.agents:
            stop_process(agent, 60)
        self.peer.stop()
