"""Attack 18 (issue 21, examiner exam21): copytruncate into an `olddir` twice while stopped names one window of two.

docs/operations.md ("copytruncate loses lines"): rotated so more than once while the agent was stopped, "the start
names every window it can see: the one whose copy holds what was read, and each backup made after it". With
numbered backups (app.log.1, app.log.2.gz) and with `dateext` beside the log both windows are named (4 of 4 by
hand). With `olddir` (the backup folder in `paths`, as docs/design.md allows) only the first is: the copy made by
the second rotation, archive/app.log-<date>-<s2>, holds lines the agent never read and is read, but its window goes
unnamed. 3 of 3 by hand (SIGTERM and kill -9, with and without compress). No line is lost here (nothing is
written between logrotate's copy and its truncation), but a writer that writes then loses lines unnamed.

What should happen: a warning for each copytruncate window, naming each backup once, as without olddir. (The
later copy was looked for only beside the live file; it is looked for beside the first copy too. Both cases failed
before that, plain and compressed.)
"""
from __future__ import annotations

import shutil
import subprocess
import time

import pytest

from tests.tail.attack18_agent import Agent, append

pytestmark = pytest.mark.skipif(not shutil.which("logrotate"), reason="needs logrotate")


@pytest.mark.slow
@pytest.mark.parametrize("compress", ["", "  compress\n"], ids=["plain", "compress"])
def test_two_copytruncate_windows_into_olddir_while_stopped_are_both_named(tmp_path, compress):
    logs, archive = tmp_path / "logs", tmp_path / "archive"
    logs.mkdir()
    archive.mkdir()
    live = logs / "app.log"
    (tmp_path / "lr.conf").write_text(
        f"{live} {{\n  rotate 5\n  dateext\n  dateformat -%Y%m%d-%s\n  olddir {archive}\n  copytruncate\n"
        f"{compress}  missingok\n}}\n")
    agent = Agent(tmp_path, [str(live), f"{archive}/*"])

    def rotate() -> None:
        time.sleep(1.1)  # dateformat %s: one rotation a second
        subprocess.run(["logrotate", "-f", "-s", str(tmp_path / "lr.state"), str(tmp_path / "lr.conf")], check=True)

    written = append(live, 1, 1000)
    agent.start()
    agent.wait_seqs(written)
    written += append(live, 1001, 300)
    agent.stop()
    written += append(live, 1301, 200)
    rotate()
    written += append(live, 1501, 500)
    rotate()
    written += append(live, 2001, 200)
    backups = sorted(p.name for p in archive.iterdir())
    assert len(backups) == 2, backups

    agent.start()
    agent.wait_seqs(written)
    time.sleep(5)  # the restart's scans have decided by then (what is not said cannot be waited for)
    agent.stop()
    assert sorted(agent.seqs()) == written  # nothing lost, nothing twice
    windows = [w for w in agent.warnings() if "were written between the copy to" in w]
    named = {name: sum(f"copy to {archive / name} and" in w for w in windows) for name in backups}
    assert named == dict.fromkeys(backups, 1), f"copytruncate windows named (per backup) {named}: {windows}"
