"""A backup compressed in a format the agent does not read (xz), made between the agent's last look and a stop, of
a file the agent had read to its end: no loss at the next start (issue 21; compressed21's "left", session 20).

Such a backup met while the agent runs is only remembered (its content was the file the agent followed through the
rotation: read before it was compressed, or named lost when that file was let go); met at a start's first look, it
was made while the agent was stopped and is named lost. One made after the last look and before the stop was met
first by the next start, and named: "an unknown number of bytes of app.log.1.xz … cannot be read" although every
line of it had been delivered (a false loss). The stop now looks at the backups as a scan does.
logrotate `create` + `compresscmd xz`, real; the tailer stopped as the file source stops it."""
from __future__ import annotations

import json
import logging
import shutil
import subprocess

import pytest

from tests.tail.conftest import Follower

pytestmark = pytest.mark.skipif(not (shutil.which("logrotate") and shutil.which("xz")), reason="needs logrotate, xz")


def _append(path, first: int, count: int) -> list[int]:
    with open(path, "a") as f:
        for seq in range(first, first + count):
            f.write(json.dumps({"seq": seq}) + "\n")
    return list(range(first, first + count))


def test_an_xz_backup_made_after_the_last_look_and_before_a_stop_is_no_loss(tmp_path, caplog):
    logs = tmp_path / "logs"
    logs.mkdir()
    live = logs / "app.log"
    (tmp_path / "lr.conf").write_text(
        f"{live} {{\n  rotate 5\n  compress\n  compresscmd /usr/bin/xz\n  uncompresscmd /usr/bin/unxz\n"
        "  compressext .xz\n  create\n  missingok\n}\n")
    written = _append(live, 1, 100)
    f = Follower([live], tmp_path)
    with caplog.at_level(logging.INFO):
        f.settle()
        assert sorted(f.seqs()) == written
        subprocess.run(["logrotate", "-f", "-s", str(tmp_path / "lr.state"), str(tmp_path / "lr.conf")], check=True)
        assert sorted(p.name for p in logs.iterdir()) == ["app.log", "app.log.1.xz"]
        f.tailer.bury_deleted(f.emit)  # the stop, as the file source makes it (no look after the rotation)
        f.restart()
        written += _append(live, 101, 10)
        f.settle()
        f.settle()
    assert sorted(f.seqs()) == written  # every line once
    assert not [r.getMessage() for r in caplog.records if "lost" in r.getMessage()]
