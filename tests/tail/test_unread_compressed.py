"""Backups in a compression the agent does not read (issue 21): named once each, with the compression and what to do,
and the live file's rest named as in them — never as "deleted, or renamed out of reach". Made while the agent ran,
they are not named (the agent read their content before it was compressed)."""
from __future__ import annotations

import shutil
import subprocess
import time

import pytest

from shipper.tail.unread_compressed import compression_of
from tests.tail.attack18_agent import Agent, append, wait

needs_tools = pytest.mark.skipif(not (shutil.which("logrotate") and shutil.which("xz")), reason="needs logrotate, xz")


@pytest.mark.parametrize("name, compression", [
    ("app.log.1.xz", "xz"), ("app.log.2.zst", "zstd"), ("app.log.3.bz2", "bzip2"), ("app.log.1.zip", "zip"),
    ("app-3.log.zip", "zip"), ("app.log-20240102.xz", "xz"), ("app.log.2024-01-02-1.lz4", "lz4"),
    ("app.log.1.gz", None), ("app.log.1", None), ("app.log.xz", None), ("other.log.1.xz", None),
    ("app.log.old.xz", None),
])
def test_compression_of_a_rotated_name(name, compression):
    assert compression_of("app.log", name) == compression


def _logrotate_xz(tmp_path, live):
    (tmp_path / "lr.conf").write_text(
        f"{live} {{\n  rotate 5\n  compress\n  compresscmd /usr/bin/xz\n  uncompresscmd /usr/bin/unxz\n"
        "  compressext .xz\n  create\n  missingok\n}\n")

    def rotate() -> None:
        subprocess.run(["logrotate", "-f", "-s", str(tmp_path / "lr.state"), str(tmp_path / "lr.conf")], check=True)
    return rotate


@needs_tools
@pytest.mark.slow
def test_xz_backups_made_while_stopped_named_once_with_their_cause(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    live = logs / "app.log"
    rotate = _logrotate_xz(tmp_path, live)
    agent = Agent(tmp_path, [str(live)])
    written = append(live, 1, 100)
    agent.start()
    agent.wait_seqs(written)
    agent.stop()
    append(live, 101, 100)
    rotate()
    append(live, 201, 100)
    rotate()
    last = append(live, 301, 50)

    agent.start()
    agent.wait_seqs(last)
    wait(lambda: sum("data lost" in w for w in agent.warnings()) >= 3, "the losses named", timeout=60)
    time.sleep(3)  # (a loss named twice would come at the next scans)
    agent.stop()
    lost = [w for w in agent.warnings() if "data lost" in w]
    for name in ("app.log.1.xz", "app.log.2.xz"):
        named = [w for w in lost if f"logs/{name} (" in w]
        assert len(named) == 1, (name, lost)
        assert "compressed with xz" in named[0] and "delaycompress" in named[0], named[0]
    rest = [w for w in lost if "logs/app.log written after the last read" in w]
    assert len(rest) == 1, lost
    assert "app.log.1.xz (xz)" in rest[0] and "app.log.2.xz (xz)" in rest[0], rest[0]
    assert not any("renamed where the source" in w for w in lost), lost

    # A restart names them no more: they were named once.
    before = len(agent.warnings())
    more = append(live, 351, 10)
    agent.start()
    agent.wait_seqs(more)
    time.sleep(3)
    agent.stop()
    assert not [w for w in agent.warnings()[before:] if ".xz" in w]


@needs_tools
@pytest.mark.slow
def test_xz_backups_made_while_running_are_read_before_and_not_named(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    live = logs / "app.log"
    rotate = _logrotate_xz(tmp_path, live)
    agent = Agent(tmp_path, [str(live)])
    agent.start()
    seqs: list[int] = []
    for i in range(3):
        seqs += append(live, 1 + 100 * i, 100)
        agent.wait_seqs(seqs)
        rotate()
    assert sorted(p.name for p in logs.iterdir()) == ["app.log", "app.log.1.xz", "app.log.2.xz", "app.log.3.xz"]
    seqs += append(live, 301, 10)
    agent.wait_seqs(seqs)
    time.sleep(3)
    agent.stop()
    more = append(live, 311, 10)
    agent.start()  # a restart: the backups were met while the agent ran
    agent.wait_seqs(more)
    time.sleep(3)
    agent.stop()
    delivered = agent.seqs()
    assert sorted(delivered) == list(range(1, 321))
    assert not [w for w in agent.warnings() if ".xz" in w or "data lost" in w], agent.warnings()
