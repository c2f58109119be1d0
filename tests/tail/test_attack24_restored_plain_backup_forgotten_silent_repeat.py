"""Attack 24 (exam24d, issue 21): a family rotated 50 times (rename, 3 backups: each rotation deletes the oldest), then
an operator restores an old backup of it, a plain (uncompressed) file, into the log folder under a rotated name
(`cp /backup/app.log.3 logs/app.log.7`, or `mv`).

Its content's tombstone was forgotten (only the newest 16 of a family are kept; the journal says `1 tombstones
forgotten (16 kept)` at info), so the file is read as new: its 20 lines are shipped again with new ids, and the journal
says nothing at all. The same restore as a `.gz` (cp, cp -p, mv) is named (`possible repeat: … app.log.7.gz is read from
its start as a new file, and may be the compressed copy of a content of its family read to its end before, whose
tombstone was forgotten …`: session 23's rule, by mtime or by its first line), and a plain restore of a content whose
tombstone is still kept (the 45th rotation's) repeats nothing. By hand: cp 20 repeated, mv 20 repeated, 0 said (and
restored over the existing app.log.3 by cp: 20 repeated, said only "file truncated" and "data possibly lost", no
repeat); kept tombstone: 0 and 0. docs/operations.md ("What it remembers of rotated files gone") promises the named
repeat only for compressed copies; the plain one is the same repeat, silent.
Fixed (session 25): a forgotten tombstone read past its head leaves a fingerprint (its family, head, length and the
hash of its last bytes: tombstones.FORGOTTEN_ENDS of them), and a file read as new that holds exactly such a content
is followed from its end, not read again (tombstones.end_of_forgotten), as a kept tombstone's copy is.
"""
from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.tail.attack_agent import Agent, append_numbered

pytestmark = pytest.mark.slow  # (an agent, writers and waits of many seconds: handed out first)


def _rotate(logs: Path) -> None:
    (logs / "app.log.3").unlink(missing_ok=True)
    for i in (2, 1):
        if (logs / f"app.log.{i}").exists():
            os.rename(logs / f"app.log.{i}", logs / f"app.log.{i + 1}")
    os.rename(logs / "app.log", logs / "app.log.1")
    (logs / "app.log").touch()


@pytest.mark.parametrize("how,name", [("cp", "app.log.7"), ("mv", "app.log.7"), ("cp", "app.log.3")],
                         ids=["cp", "mv", "cp-over-backup"])
def test_a_restored_plain_backup_of_a_forgotten_content_is_no_silent_repeat(tmp_path: Path, how: str,
                                                                          name: str) -> None:
    """cp-over-backup: `cp` onto the existing app.log.3 rewrites that file in place (truncate, write): the journal says
    `file truncated: reading it again from its start` (info) and `data possibly lost … of …/app.log.3` (nothing was
    lost), and the 20 lines go out again, no repeat named (2 of 2 by hand, with cp and cp -p)."""
    logs, backup = tmp_path / "logs", tmp_path / "backup"
    logs.mkdir()
    backup.mkdir()
    log = logs / "app.log"
    append_numbered(log, 0, 20)
    agent = Agent(tmp_path, [log])
    agent.start()
    n = 20
    try:
        for rotation in range(50):
            append_numbered(log, n, n + 20)
            n += 20
            time.sleep(0.15)
            if rotation == 3:
                time.sleep(0.5)
                shutil.copy2(log, backup / "app.log.3")  # the operator's backup of this content
            _rotate(logs)
        append_numbered(log, n, n + 20)
        n += 20
        assert agent.wait_delivered(range(n), 90), agent.errors()[-2000:]
        time.sleep(2.0)
        subprocess.run([how, str(backup / "app.log.3"), str(logs / name)], check=True)  # the restore
        time.sleep(4.0)
        append_numbered(log, n, n + 5)
        n += 5
        assert agent.wait_delivered(range(n), 60), agent.errors()[-2000:]
        time.sleep(2.0)
    finally:
        agent.stop()
    repeated = sum(c - 1 for c in Counter(agent.seqs()).values())
    said = [ln for ln in agent.errors().splitlines() if name in ln and "repeat" in ln]
    assert repeated == 0 or said, f"{repeated} lines shipped again, nothing said of {name}"


def test_a_restored_gz_of_a_forgotten_content_with_a_shared_header_is_no_silent_repeat(tmp_path: Path) -> None:
    """Session 23 (8927f6b) names the `.gz` restored by a plain `cp` by its first line, "which a forgotten content of
    its family had and no other known content of it has": with a layout or CSV header every content has that line, so
    the rule cannot apply, and the mtime (cp gives a new one) does not either. The 20 lines go out again, nothing said
    (2 of 2 by hand; with `mv`, which keeps the mtime, it is named)."""
    logs, backup = tmp_path / "logs", tmp_path / "backup"
    logs.mkdir()
    backup.mkdir()
    log = logs / "app.log"
    header = '{"seq": -1, "msg": "header"}\n'
    log.write_text(header)
    append_numbered(log, 0, 20)
    agent = Agent(tmp_path, [log])
    agent.start()
    n = 20
    try:
        for rotation in range(50):
            append_numbered(log, n, n + 20)
            n += 20
            time.sleep(0.15)
            if rotation == 3:
                time.sleep(0.5)
                with open(log, "rb") as plain, gzip.open(backup / "app.log.3.gz", "wb") as gz:
                    gz.write(plain.read())  # the operator's compressed backup of this content
            _rotate(logs)
            log.write_text(header)
        append_numbered(log, n, n + 20)
        n += 20
        assert agent.wait_delivered(range(n), 90), agent.errors()[-2000:]
        time.sleep(2.0)
        subprocess.run(["cp", str(backup / "app.log.3.gz"), str(logs / "app.log.7.gz")], check=True)
        time.sleep(4.0)
        append_numbered(log, n, n + 5)
        n += 5
        assert agent.wait_delivered(range(n), 60), agent.errors()[-2000:]
        time.sleep(2.0)
    finally:
        agent.stop()
    repeated = sum(c - 1 for seq, c in Counter(agent.seqs()).items() if seq != -1)
    said = [ln for ln in agent.errors().splitlines() if "app.log.7.gz" in ln and "repeat" in ln]
    assert repeated == 0 or said, f"{repeated} lines shipped again, nothing said of app.log.7.gz"
