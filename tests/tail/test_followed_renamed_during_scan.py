"""A followed file, closed (over the descriptor budget) with lines unread, listed by a scan and renamed by the
rotation that overtook it before its bytes were compared (torture seeds 182302 and 182113, `--overtaken`). The
comparison met the writer's next file under the listed name (MovedDuringScan) and the file was left "to the next
scan, under its new name"; the read after the scan opened it by its old name, which held another file, and did not
read it. Overtaken again at the next scan, it was deleted by the rotation after: its unread lines were never read
(182302: after a restart, which had saved it at the size of its last read, without a word; 182113: the inode, given
to a new `.gz`, was that file's, 72 lines). A rotation renames a backup to another of its family's names: it is
compared there at the same scan, as a loose content and a new file renamed during the scan are (seed 1268)."""
from __future__ import annotations

import functools
import logging
from pathlib import Path

from shipper.tail import scan_rules
from tests.tail.conftest import Follower
from tests.tail.test_hold import rotate as log4j_rotate
from tests.tail.test_overtaken_scan import overtake


def rollover(live: Path) -> None:
    """Log4j's rollover (MaxBackupIndex=2), and the writer's new, empty live file."""
    log4j_rotate(str(live), 2)
    live.write_bytes(b"")


def followed_with_lines_unread(f: Follower, live: Path) -> None:
    """seq 0-1 written to `live` and read; seq 2-3 written after them, not read."""
    live.write_bytes(b"seq 0 x\nseq 1 xx\n")
    f.poll()
    with open(live, "ab") as w:
        w.write(b"seq 2 xxx\nseq 3 xxxx\n")


def test_a_closed_file_renamed_during_the_scan_is_read(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(scan_rules, "MISSING_SECONDS", 0.0)
    caplog.set_level(logging.WARNING, "shipper.tail")
    live = tmp_path / "app.log"
    rotate = functools.partial(rollover, live)
    f = Follower([live], tmp_path, close_inactive=0.0)
    try:
        followed_with_lines_unread(f, live)  # seq 2-3 rotated before a read
        f.tailer.close_idle()  # (idle, or over the descriptor budget: closed, under its name)
        assert not f.tailer.known_open()
        rotate()
        overtake(f, rotate)  # listed as app.log.1, it is app.log.2 by the time the scan compares it
        f.poll()
        rotate()  # and deleted (MaxBackupIndex=2) before the next scan
        f.poll(3)
        assert f.lines() == [b"seq 0 x", b"seq 1 xx", b"seq 2 xxx", b"seq 3 xxxx"]
        assert not [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    finally:
        f.tailer.close()
