"""Attack 18 (issue 21, examiner exam21): a rotation right before a SIGTERM, then rotated past its backups.

logrotate `create`, `rotate 2`. The agent has read everything and follows the live file; 20 lines are written,
logrotate rotates, and SIGTERM comes at once (a host shutting down while logrotate runs, a deploy's restart). While
the agent is stopped the log is written and rotated four more times, so the file with the 20 unread lines and the
two files born meanwhile (60 lines) are deleted by the rotation. At the restart nothing of the 80 lines is named: no
warning in either journal, `shipper_losses` 0. Seen 4 of 5 by hand with SIGTERM within ms of the rotation (1 of 5
named it); with 50 ms or more between them, 4 of 4 named (`data lost: an unknown number of bytes of app.log written
after the last read …`), and with kill -9 instead of SIGTERM at the same moment 3 of 3 named: the clean stop hides a
loss a crash names. Load-dependent (where the stop lands against the rename's inotify event), so not strict.

What should happen: lost lines are named at the restart, as they are after a kill -9. (The stop saved the file
renamed right before it with the size its last look saw, empty, and knew nothing of the new live file. It now saves
the size it sees and the file at the live name: letting_go.know_unread_at_stop; deterministic case:
tests/tail/test_rotation_right_before_stop_named.py.)
"""
from __future__ import annotations

import shutil
import subprocess
import time

import pytest

from tests.tail.attack18_agent import Agent, append

pytestmark = pytest.mark.skipif(not shutil.which("logrotate"), reason="needs logrotate")


@pytest.mark.slow
def test_lines_of_a_rotation_right_before_sigterm_lost_while_stopped_are_named(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    live = logs / "app.log"
    (tmp_path / "lr.conf").write_text(f"{live} {{\n  rotate 2\n  create\n  missingok\n}}\n")
    agent = Agent(tmp_path, [str(live)])

    def rotate() -> None:
        subprocess.run(["logrotate", "-f", "-s", str(tmp_path / "lr.state"), str(tmp_path / "lr.conf")], check=True)

    agent.start()
    written = []
    for first in (1, 21, 41):
        written += append(live, first, 20)
        rotate()
    agent.wait_seqs(written)
    time.sleep(2)  # let the agent settle on the new (empty) live file, as the runs by hand did
    written += append(live, 61, 20)
    rotate()
    agent.stop()  # at once
    for first in (81, 111, 141, 171):
        written += append(live, first, 30)
        rotate()
    assert sorted(p.name for p in logs.iterdir()) == ["app.log", "app.log.1", "app.log.2"]

    agent.start()
    deadline = time.monotonic() + 15  # a restart names a loss at its first scans; wait for it, or give up
    while time.monotonic() < deadline and not any("data lost" in w for w in agent.warnings()):
        time.sleep(0.2)
    agent.stop()
    lost = set(written) - set(agent.seqs())
    assert lost <= set(range(61, 141)), sorted(lost)  # the two files left hold 141-200, on disk and read
    assert not lost or any("data lost" in w and str(live) in w for w in agent.warnings()), \
        f"{len(lost)} lines lost, unnamed: {agent.warnings()}"
