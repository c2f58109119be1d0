"""Torture seed 500233 (`make torture SEED=500000`, no holder): a backup waiting to be told apart from a copy (too short
to tell: shorter than the live file read before a stop, same header) is deleted by the next rotation, and the agent is
killed (kill -9) before a scan has missed it long enough to call it gone. The checkpoint kept that it waited (its inode
and birth time, state.WAITING_PREFIX), not its name: the restart forgot it, and its lines, never read, went without a
word (20 lines). It is kept with its name now, waits again at the restart, and gone, it is named lost as a file deleted
while it waited is (Prospector._undecided_gone)."""
from __future__ import annotations

import logging
import os

import pytest

from shipper.tail import scan_rules
from tests.tail.conftest import Follower
from tests.tail.test_gz_waiting_since_before_live_read_no_window import HEADER, append, lines, rotate


@pytest.fixture(autouse=True)
def fast_missing(monkeypatch):
    monkeypatch.setattr(scan_rules, "MISSING_SECONDS", 0.0)


def test_a_waiting_backup_deleted_before_a_kill_is_named_lost_after_the_restart(tmp_path, caplog):
    d = tmp_path / "logs"
    d.mkdir()
    log = d / "app.log"
    log.write_bytes(HEADER + lines(0, 20))
    f = Follower([log], d)
    try:
        f.poll()
        rotate(d)  # away: three `create` rotations with `delaycompress` (as in that test)
        append(log, lines(20, 7))
        rotate(d)
        append(log, lines(27, 13))
        rotate(d)
        f.restart()
        f.poll()
        waiting = {os.path.basename(path) for _, path, _, _ in f.tailer.prospector.undecided.values()}
        assert waiting == {"app.log.1", "app.log.2.gz"}, "both backups wait, too short to tell"
        os.unlink(d / "app.log.2.gz")  # deleted (a cleaner) before any scan missed it, then a kill -9
        f.restart()
        with caplog.at_level(logging.WARNING, logger="shipper.tail"):
            for _ in range(3):
                f.poll()
        lost = [r.getMessage() for r in caplog.records if r.getMessage().startswith("data lost")]
        assert any(f"of {d / 'app.log.2.gz'} (the whole file)" in m for m in lost), caplog.text
    finally:
        f.tailer.close()


def test_a_waiting_entry_of_an_older_version_is_read_with_no_name():
    """Session 26 saved the birth time alone: still read (its file told as waiting before the stop if listed), with no
    name to say it by if gone; what cannot be read is left out."""
    from shipper.tail.state import waiting_files

    assert waiting_files({"waiting:1:2": 5, "waiting:1:3": [6, "/l/app.log.1", "/l/app.log"], "waiting:1:4": "x",
                          "waiting:x:5": 7}) == {(1, 2): (5, "", ""), (1, 3): (6, "/l/app.log.1", "/l/app.log")}
