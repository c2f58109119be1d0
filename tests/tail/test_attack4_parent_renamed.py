"""Black-box attack 4: not the followed folder but its parent is renamed away and made again: a blue/green
deployment (`mv /srv/app /srv/app.prev`, a new /srv/app with its logs/ folder), a restore. No watch on the
followed folder itself sees that (inotify reports a move to the watch of the folder that held the moved entry).
The writer then starts a new live file there and rotates it: lines still on disk must be read exactly once;
lines in files created and deleted meanwhile must be read or be a warned loss naming the file."""
from __future__ import annotations

import os
import time

import pytest

from tests.tail.attack_agent import Agent, exactly_once, numbered

pytestmark = pytest.mark.slow


def write(path, lo: int, hi: int) -> None:
    with open(path, "a") as f:
        f.write("".join(numbered(i) for i in range(lo, hi)))


def test_parent_folder_renamed_and_made_again_loses_nothing_silently(tmp_path):
    app = tmp_path / "srv" / "app"
    logs = app / "logs"
    logs.mkdir(parents=True)
    write(logs / "app.log", 0, 100)
    agent = Agent(tmp_path, [f"{logs}/app.log*"], "    rescan_interval: 2")
    agent.start()
    try:
        assert agent.wait_delivered(range(100))
        os.rename(app, tmp_path / "srv" / "app.prev")  # the deployment
        logs.mkdir(parents=True)
        for r in range(5):  # Log4j MaxBackupIndex=1 in the new folder
            write(logs / "app.log", 100 + 200 * r, 300 + 200 * r)
            time.sleep(0.3)
            if (logs / "app.log.1").exists():
                os.unlink(logs / "app.log.1")
            os.rename(logs / "app.log", logs / "app.log.1")
        write(logs / "app.log", 1100, 1300)
        on_disk = set(range(100)) | set(range(900, 1300))
        agent.wait_delivered(on_disk, timeout=60)
        time.sleep(5)  # several rescans: time for a warning about what escaped
    finally:
        assert agent.stop() == 0
    seqs = agent.seqs()
    assert exactly_once([s for s in seqs if s in on_disk], on_disk) == ""
    assert len(seqs) == len(set(seqs)), "a line repeated"
    escaped = set(range(100, 900)) - set(seqs)
    if escaped:
        assert "data lost" in agent.errors() and "app.log" in agent.errors(), (len(escaped), agent.errors())
