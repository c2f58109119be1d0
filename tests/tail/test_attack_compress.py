"""Black-box attacks with Debian's logrotate `compress` (no delaycompress): the live file is renamed
to app.log.1, gzipped to app.log.1.gz and app.log.1 deleted, older .gz shifted. `rotate 5` keeps
every backup these schedules make, so every line stays on disk and must be delivered exactly once
by a real `shipper run` (SIGTERM stops only: no replay is allowed)."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.tail.attack_agent import Agent, exactly_once, numbered

pytestmark = pytest.mark.slow

HEADER = '{"seq": -1, "msg": "layout header shared by every file"}\n'


class Family:
    def __init__(self, tmp: Path, header: bool) -> None:
        self.logs = tmp / "logs"
        self.logs.mkdir()
        self.app = self.logs / "app.log"
        self.header = header
        self.n = 0
        self.conf = tmp / "logrotate.conf"
        self.state = tmp / "logrotate.state"
        self.conf.write_text(f"{self.app} {{\n  rotate 5\n  compress\n  missingok\n}}\n")

    def write(self, k: int) -> None:
        fresh = not self.app.exists() or self.app.stat().st_size == 0
        with open(self.app, "a") as f:
            if fresh and self.header:
                f.write(HEADER)
            for i in range(self.n, self.n + k):
                f.write(numbered(i))
        self.n += k

    def rotate(self) -> None:
        subprocess.run(["/usr/sbin/logrotate", "-f", "-s", str(self.state), str(self.conf)], check=True)


@pytest.mark.parametrize("header", [False, True])
def test_two_compressed_rotations_while_running_repeat_nothing(tmp_path, header):
    """Found: the lines of the second file (written between two rotations, the agent running)
    were shipped twice, 200 of 600, with or without a shared header."""
    fam = Family(tmp_path, header)
    fam.write(50)
    agent = Agent(tmp_path, [fam.app], "    read_from: beginning")
    agent.start()
    fam.write(300)
    fam.rotate()
    fam.write(200)
    fam.rotate()
    fam.write(100)
    assert agent.wait_delivered(range(fam.n)), exactly_once(
        [s for s in agent.seqs() if s != -1], range(fam.n))
    agent.wait_delivered([-2], timeout=3)  # let any repeat arrive
    assert agent.stop() == 0
    assert exactly_once([s for s in agent.seqs() if s != -1], range(fam.n)) == "", agent.errors()
    assert "data lost" not in agent.errors()


def test_shared_header_compressed_rotations_while_stopped_repeat_nothing(tmp_path):
    """Found: every file shares its first line; rotated twice (compress) while the agent was
    stopped, then once more while it runs: 350 of 750 lines shipped twice, and a false warning
    that app.log was truncated in place with no copy found."""
    fam = Family(tmp_path, header=True)
    fam.write(50)
    agent = Agent(tmp_path, [fam.app], "    read_from: beginning")
    agent.start()
    fam.write(300)
    assert agent.stop() == 0  # at once: it still reads and commits these 300 as it drains
    fam.rotate()
    fam.write(100)
    fam.rotate()
    fam.write(100)
    agent.start()
    fam.write(100)
    fam.rotate()
    fam.write(100)
    assert agent.wait_delivered(range(fam.n)), exactly_once(
        [s for s in agent.seqs() if s != -1], range(fam.n))
    agent.wait_delivered([-2], timeout=3)
    assert agent.stop() == 0
    assert exactly_once([s for s in agent.seqs() if s != -1], range(fam.n)) == "", agent.errors()
    # ext4 gave app.log's inode to the new app.log (same header): at the live name that cannot be
    # told from a copytruncate while stopped, so at most that window is warned (unknown size) —
    # never "truncated in place and no copy was found", and nothing read twice.
    errors = agent.errors()
    assert "no copy of it was found" not in errors and errors.count("data lost") <= 1, errors


# A schedule found by a random search (seed 2): writes, rotations (`rotate 5`, compress), one stop.
SCHEDULE = ("w29,stop,r,w92,start,s0.84,w158,r,w54,r,w155,r,w9,s0.58,w82,r,w100,r,w185,r,w130,s0.95,w279,r,"
            "w68,r,w9,r,w7,s0.36,w164,r,w134,r,w42,s0.56,w121,stop,r,w45,start,s0.33")


def test_shared_header_rotation_schedule_warns_no_loss_that_did_not_happen(tmp_path):
    import time
    fam = Family(tmp_path, header=True)
    fam.write(50)
    agent = Agent(tmp_path, [fam.app], "    read_from: beginning")
    agent.start()
    for step in SCHEDULE.split(","):
        if step.startswith("w"):
            fam.write(int(step[1:]))
        elif step == "r":
            fam.rotate()
        elif step == "stop":
            assert agent.stop() == 0
        elif step == "start":
            agent.start()
        else:
            time.sleep(float(step[1:]))
    assert agent.wait_delivered(range(fam.n)), exactly_once(
        [s for s in agent.seqs() if s != -1], range(fam.n))
    agent.wait_delivered([-2], timeout=3)
    assert agent.stop() == 0
    assert exactly_once([s for s in agent.seqs() if s != -1], range(fam.n)) == "", agent.errors()
    assert "data lost" not in agent.errors(), agent.errors()
