"""Attack (issue 21): logrotate `olddir` keeps the backups in another folder. The README follows
rotated names beside the live file only, so the operator puts the backup folder in `paths` too
(`[logs/app.log, old/app.log*]`). With plain backups that works; with `compress` +
`delaycompress` and the agent stopped across rotations, whole backups were shipped twice (600 of
1,800 lines: a .gz matched by a glob of its own was never taken for a copy) and a loss was warned
for `old/app.log.2.gz` although nothing was lost (logrotate makes `app.log.1.gz`, then renames it to
`app.log.2.gz` at once: the holder called it gone; now the rename is paired with the creation by
its inotify cookie)."""
from __future__ import annotations

import subprocess
import time

import pytest

from tests.tail.attack_agent import Agent, exactly_once, numbered

pytestmark = pytest.mark.slow


def olddir_schedule(tmp_path) -> tuple[str, list[str]]:
    logs = tmp_path / "logs"
    old = tmp_path / "old"
    logs.mkdir()
    old.mkdir()
    live = logs / "app.log"
    conf = tmp_path / "lr.conf"
    conf.write_text(f"{live} {{\n  rotate 10\n  olddir {old}\n  compress\n  delaycompress\n  missingok\n}}\n")
    live.write_text("")
    agent = Agent(tmp_path, [live, f"{old}/app.log*"])
    agent.start()
    seq = 0
    f = open(live, "a")
    try:
        for r in range(5):
            for i in range(300):
                f.write(numbered(seq))
                f.flush()
                seq += 1
                if i % 50 == 0:
                    time.sleep(0.01)
            if r % 2:
                agent.stop()
            subprocess.run(["/usr/sbin/logrotate", "-f", "-s", str(tmp_path / "lr.state"), str(conf)], check=True)
            f.close()
            f = open(live, "a")  # the writer reopens, as after a postrotate signal
            if r % 2:
                agent.start()
        for _ in range(300):
            f.write(numbered(seq))
            seq += 1
        f.close()
        agent.wait_delivered(range(seq), timeout=30)
        time.sleep(2)  # duplicates, if any, arrive
    finally:
        f.close()
        agent.stop()
    return exactly_once(agent.seqs(), range(seq)), [line for line in agent.errors().splitlines() if "data lost" in line]


def test_olddir_backups_in_the_globs_compressed_across_stops_are_read_once(tmp_path):
    assert olddir_schedule(tmp_path)[0] == ""


def test_olddir_backups_in_the_globs_compressed_across_stops_warn_no_loss(tmp_path):
    assert olddir_schedule(tmp_path)[1] == []
