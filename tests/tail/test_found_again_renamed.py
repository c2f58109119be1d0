"""A content found again after a restart under another name than its checkpoint says (renamed by a
rotation while the agent was stopped) must have that name saved: the next restart looks for it from
there. With a glob that matches the backups themselves (`app.log*`), a backup first met as new is a
family of its own (its name is its live name); its checkpoint still naming that first name, deleted
later while the agent was stopped, it was taken for "the live file, rotated away unread" — a false
loss (found by test_attack6_csv_header_compress_restarts_false_loss.py)."""
from __future__ import annotations

import logging
import os

import pytest

from shipper.tail import scan_rules
from tests.tail.conftest import Follower
from tests.tail.test_files import write
from tests.tail.test_identity import HEADER, expect, logrotate, records

CREATE_COMPRESS = "  create\n  compress"


@pytest.fixture(autouse=True)
def fast_missing(monkeypatch):
    monkeypatch.setattr(scan_rules, "MISSING_SECONDS", 0.0)


def test_backup_found_renamed_after_a_restart_and_deleted_while_stopped_is_no_loss(tmp_path, caplog):
    d = tmp_path / "logs"
    d.mkdir()
    log = d / "app.log"
    write(log, HEADER, *[f"line {i}" for i in range(0, 100)])
    f = Follower([f"{d}/app.log*"], d)
    f.poll()
    f.tailer.close()  # stopped; two rotations: the second content is met first as app.log.1.gz
    logrotate(tmp_path, log, CREATE_COMPRESS, rotate=4)
    write(log, HEADER, *[f"line {i}" for i in range(100, 200)])
    logrotate(tmp_path, log, CREATE_COMPRESS, rotate=4)
    write(log, HEADER, *[f"line {i}" for i in range(200, 300)])
    f.restart()
    f.settle()
    assert sorted(records(f)) == sorted(expect(300))
    second = [v for v in f.state.values() if isinstance(v, dict) and v.get("family") == str(d / "app.log.1.gz")]
    assert len(second) == 1 and second[0]["path"] == str(d / "app.log.1.gz"), second
    f.tailer.close()
    logrotate(tmp_path, log, CREATE_COMPRESS, rotate=4)  # while stopped: app.log.1.gz -> app.log.2.gz
    write(log, HEADER, *[f"line {i}" for i in range(300, 400)])
    f.restart()
    f.settle()
    # Found again by what was read of it, under its new name: saved so.
    second = [v for v in f.state.values() if isinstance(v, dict) and v.get("fid") == second[0]["fid"]]
    assert len(second) == 1 and second[0]["path"] == str(d / "app.log.2.gz"), second
    f.tailer.close()
    os.unlink(d / "app.log.2.gz")  # while stopped (a cleaner; or more rotations than backups): read whole before
    f.restart()
    with caplog.at_level(logging.WARNING, logger="shipper.tail"):
        f.settle()
    assert sorted(records(f)) == sorted(expect(400)) and len(records(f)) == 400
    assert f.tailer.losses == 0
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
