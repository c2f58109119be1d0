"""A live file read no further than its header, copied by copytruncate (the copy: that header, compressed), lines
written between the copy and the truncation, the file given its header again and written on, then the agent
restarted (kill -9) before any scan saw it (torture seed 170224, an examiner's, `--overtaken`: 2 lines of a seen
file destroyed unread, no loss warned). The running agent names that window (copies.head_copy_of_grown: the file
grew from its head, a new file under a rotated name holds exactly that head); the restarted one knew the file only
from its saved state, and said nothing. The saved state shows it as well: read to its head only, on the same inode
now longer than that head, beside a new copy of exactly that head."""
from __future__ import annotations

import gzip
import logging
import os
import shutil

from tests.tail.conftest import Follower
from tests.tail.test_files import write

HEADER = "# time level logger message"


def warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def copytruncate_compress(log, window: list[str]) -> None:
    """logrotate `copytruncate` + `compress`; `window`: the lines the writer writes between the copy and the
    truncation (in no file after it); the writer gives the file its header again."""
    backup = f"{log}.1"
    shutil.copyfile(log, backup)
    write(log, *window)
    os.truncate(log, 0)
    write(log, HEADER)
    with open(backup, "rb") as src, gzip.open(f"{backup}.gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    os.unlink(backup)


def test_the_window_of_a_head_only_file_cut_then_restarted_is_named(tmp_path, caplog):
    d = tmp_path / "logs"
    d.mkdir()
    log = d / "app.log"
    write(log, HEADER)
    f = Follower([log], d)
    try:
        f.poll()  # the header read: all the file holds
        copytruncate_compress(log, ["line 0", "line 1"])
        write(log, "line 2", "line 3")
        f.restart()  # kill -9: the next start knows the file by its saved state only
        with caplog.at_level(logging.INFO, logger="shipper.tail"):
            f.settle()
        assert [r for r in f.lines() if not r.startswith(b"#")] == [b"line 2", b"line 3"]
        named = [m for m in warnings(caplog) if "between the copy" in m]
        assert len(named) == 1 and str(log) in named[0], warnings(caplog)
        assert f.tailer.losses == 1
    finally:
        f.tailer.close()


def test_a_head_only_file_grown_without_a_copy_after_a_restart_is_no_loss(tmp_path, caplog):
    """The neighbour: the same file only written to (no rotation) while the agent was stopped: nothing lost."""
    d = tmp_path / "logs"
    d.mkdir()
    log = d / "app.log"
    write(log, HEADER)
    f = Follower([log], d)
    try:
        f.poll()
        write(log, "line 0", "line 1")
        f.restart()
        with caplog.at_level(logging.INFO, logger="shipper.tail"):
            f.settle()
        assert [r for r in f.lines() if not r.startswith(b"#")] == [b"line 0", b"line 1"]
        assert warnings(caplog) == [] and f.tailer.losses == 0
    finally:
        f.tailer.close()
