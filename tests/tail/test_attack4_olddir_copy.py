"""Black-box attack 4: logrotate `olddir` with the backup folder in `paths` (so that a restart finds unfinished
backups), rotating by copying: `renamecopy` (what logrotate requires for an olddir on another filesystem) or
`copy` (the live file is kept). The copies in the olddir hold lines already read: each line must still be
shipped exactly once (the real logrotate; the agent runs throughout)."""
from __future__ import annotations

import contextlib
import subprocess
import time

import pytest

from tests.fs_faults import small_tmpfs
from tests.tail.attack_agent import Agent, exactly_once, numbered

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("method", ["renamecopy", "copy"])
def test_olddir_in_the_globs_with_copied_backups_repeats_nothing(tmp_path, method):
    logs, old = tmp_path / "logs", tmp_path / "old"
    logs.mkdir()
    live = logs / "app.log"
    (tmp_path / "lr.conf").write_text(f"{live} {{\n  olddir {old}\n  {method}\n  rotate 3\n}}\n")
    seq = [0]

    def write(n: int) -> None:
        with open(live, "a") as f:
            for _ in range(n):
                f.write(numbered(seq[0]))
                seq[0] += 1

    # renamecopy: the olddir on a filesystem of its own, as logrotate requires it for
    with small_tmpfs(old, 4096) if method == "renamecopy" else contextlib.nullcontext(old.mkdir()):
        write(100)
        agent = Agent(tmp_path, [f"{logs}/app.log*", f"{old}/app.log*"])
        agent.start()
        try:
            for _ in range(3):
                write(100)
                assert agent.wait_delivered(range(seq[0]))
                time.sleep(1.1)  # logrotate's state has a one-second resolution
                subprocess.run(["logrotate", "-f", "-s", str(tmp_path / "lr.state"), str(tmp_path / "lr.conf")],
                               check=True, timeout=60)
            write(100)
            assert agent.wait_delivered(range(seq[0]))
            time.sleep(3)  # time to read the copies (again)
        finally:
            assert agent.stop() == 0
    assert exactly_once(agent.seqs(), range(seq[0])) == ""
