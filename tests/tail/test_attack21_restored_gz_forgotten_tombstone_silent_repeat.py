"""Attack 21 (exam23d, issue 23): a compressed backup of a long-gone content, copied back into the log folder by hand,
is read again without a word once its tombstone was forgotten.

docs/operations.md ("What it remembers of rotated files gone (tombstones)"), since 40e29cc bounds them to the newest
16 of a family: "What an operator may see from it: a compressed backup of a forgotten content copied back into the
log folder by hand (a restore), or compressed by a job that runs hours after the rotation, is read again as a new
file: the journal says `possible repeat: … may be the compressed copy of a content of its family read to its end
before, whose tombstone was forgotten …` (warning, naming the file), never silently."

Here: a Log4j-style log (app.log renamed over app.log.1, 2 lines a file) rotates 60 times; a backup job keeps a
gzip of the 6th content elsewhere (`gzip` keeps the file's mtime); once every line was shipped, the operator restores
it with a plain `cp` (a new mtime) as app.log.2.gz. Its 2 lines are shipped a second time, and the journal says only
`2 tombstones forgotten (16 kept) …` at info: no `possible repeat` (2 of 2 by hand: a Python-gzipped copy after 100
rotations, and this shape; with `cp -p`, the old mtime kept, nothing is read again). The warning hangs on the
copy's mtime ("its mtime not after the newest went", 40e29cc), which a restore by `cp`, or a late job writing a new
file, does not keep.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections import Counter

import pytest

from tests.tail.attack_agent import Agent, append_numbered

pytestmark = pytest.mark.slow  # (tens of seconds: `make test` hands it out with the slow files, early)


def test_a_restored_compressed_backup_of_a_forgotten_content_is_not_repeated_silently(tmp_path) -> None:
    logs, backup = tmp_path / "logs", tmp_path / "backup"
    logs.mkdir()
    backup.mkdir()
    log, rotated = logs / "app.log", logs / "app.log.1"
    append_numbered(log, 0, 2)
    agent = Agent(tmp_path, [log])
    try:
        agent.start()
        n = 2
        for k in range(60):
            os.rename(log, rotated)  # over the last backup: it is deleted (read to its end: a tombstone)
            if k == 5:  # the backup job: a gzip of this content kept elsewhere
                shutil.copy2(rotated, backup / "app.log.1")
                subprocess.run(["gzip", str(backup / "app.log.1")], check=True)
            append_numbered(log, n, n + 2)
            n += 2
            time.sleep(0.05)
        assert agent.wait_delivered(range(n), 90), agent.errors()[-2000:]
        shipped_before = len(agent.seqs())
        subprocess.run(["cp", str(backup / "app.log.1.gz"), str(logs / "app.log.2.gz")], check=True)  # a restore
        agent.wait_delivered(range(n + 1), 8)  # (never true): 8 s for the copy to be read, if it is
        shipped_again = len(agent.seqs()) - shipped_before
        agent.stop()
    finally:
        if agent.proc is not None and agent.proc.poll() is None:
            agent.proc.kill()
            agent.proc.wait(30)
    repeated = sum(c - 1 for c in Counter(agent.seqs()).values())
    warned = [line for line in agent.errors().splitlines() if "possible repeat" in line and "app.log.2.gz" in line]
    assert repeated == 0 or warned, f"{repeated} lines shipped again ({shipped_again} after the restore), no warning"
