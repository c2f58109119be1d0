"""Attack 14 (issue 21 item 3): two copytruncate rotations while the agent is stopped, each with lines written
between the copy and the truncation (as logrotate does it: copy the live file to app.log.1, the writer appends, the
live file is truncated in place; the older backup shifted to app.log.2 first). Each window's lines are in no file.
The start warns one window, naming the copy to app.log.2 (the older), and says nothing of the second: its lines
are lost unnamed, although app.log.1 shows it (a copy on a new inode while the live file kept its inode is a
copytruncate, and each has its window). The same with three rotations and `compress`/`delaycompress` (two windows
unnamed), and with the real logrotate (`copytruncate`, `compress`, `delaycompress`, restarts by SIGTERM while a
writer appends every 20 ms): 16, 16 and 12 windows lost, 15, 14 and 11 warned (3 of 3 runs by hand). Only the copy that holds what was read showed the
truncation; now each backup made after it at the same look is the copy of a later rotation, its window named too
(copies.later_copy_of_cut)."""
from __future__ import annotations

import gzip
import re
import shutil

import pytest

from tests.tail.attack14_agent import Agent, lines

pytestmark = pytest.mark.slow

HEADER = "#Fields: seq pad\n"


def shift_backups(logs, compress: bool) -> None:
    """What logrotate does before the copy: each backup one number on (with `compress` and
    `delaycompress`, app.log.1 is compressed as it becomes app.log.2.gz)."""
    olds = sorted(logs.glob("app.log.*.gz"), key=lambda p: -int(p.name.split(".")[2]))
    for old in olds:
        old.rename(logs / f"app.log.{int(old.name.split('.')[2]) + 1}.gz")
    if not compress:
        (logs / "app.log.1").rename(logs / "app.log.2")
        return
    with open(logs / "app.log.1", "rb") as src, gzip.open(logs / "app.log.2.gz.tmp", "wb") as dst:
        shutil.copyfileobj(src, dst)
    (logs / "app.log.2.gz.tmp").rename(logs / "app.log.2.gz")
    (logs / "app.log.1").unlink()


@pytest.mark.parametrize("rotations,compress", [(2, False), (3, True)])
def test_each_copytruncate_window_while_stopped_is_warned(tmp_path, rotations, compress):
    agent = Agent(tmp_path, f"    paths: [{tmp_path}/logs/app.log]\n")
    logs = tmp_path / "logs"
    live = logs / "app.log"
    live.write_text(HEADER + lines(0, 50))
    try:
        agent.start()
        agent.wait(lambda: all(n in agent.seqs() for n in range(50)), 60, "the first 50 lines")
        assert agent.stop() == 0
        seq, windows = 50, []
        for rotation in range(rotations):
            with open(live, "a") as f:
                f.write(lines(seq, 20))
            seq += 20
            if rotation:
                shift_backups(logs, compress)
            shutil.copyfile(live, logs / "app.log.1")
            with open(live, "a") as f:      # between the copy and the truncation
                f.write(lines(seq, 5))
            windows.append(range(seq, seq + 5))
            seq += 5
            with open(live, "r+") as f:
                f.truncate(0)
            with open(live, "a") as f:
                f.write(HEADER + lines(seq, 10))
            seq += 10
        agent.start()
        agent.wait(lambda: seq - 1 in agent.seqs(), 60, "the live file's last line")
        assert agent.stop() == 0
    finally:
        agent.kill()
    delivered = agent.seqs()
    assert [n for n, times in delivered.items() if times > 1] == []
    assert [n for n in range(seq) if n not in delivered] == [n for w in windows for n in w]
    warned = [w for w in agent.warnings() if "between the copy to" in w]
    named = {re.search(r"between the copy to (\S+) and", w).group(1).rsplit("/", 1)[1] for w in warned}
    assert len(warned) == rotations and len(named) == rotations, warned
