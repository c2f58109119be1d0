"""Torture seeds 197039 and 197138 (session 23's `SEED=197000 N=200 STEPS=40 ARGS=--overtaken` sweep): the live
file empty when the agent stopped and untouched since (its mtime as saved), beside the empty .gz a `create` +
`compress` rotation made of the empty file before it. At the restart that .gz was taken for the copy of a
copytruncate of the live file (copies.empty_copy_of_grown, through restored_empty_live): a window named where no
copytruncate ran, a false loss. Nothing was written to the live file, nor cut, since the look that saved it: no
window. Written and cut while stopped, it is still named (test_copytruncate_empty_live.py)."""
from __future__ import annotations

import gzip
import logging
import os
import shutil

import pytest

from shipper.tail import scan_rules
from tests.tail.conftest import Follower


@pytest.fixture(autouse=True)
def fast_missing(monkeypatch):
    monkeypatch.setattr(scan_rules, "MISSING_SECONDS", 0.0)


def test_empty_gz_of_a_create_rotation_beside_an_unchanged_empty_live_file_is_no_window_after_a_restart(
        tmp_path, caplog):
    d = tmp_path / "logs"
    d.mkdir()
    log = d / "app.log"
    log.write_bytes(b"")
    f = Follower([log], d)
    try:
        f.poll()
        # `create` + `compress` of the empty live file: renamed, a new live file made, the old one compressed
        os.rename(log, d / "app.log.1")
        log.write_bytes(b"")
        with open(d / "app.log.1", "rb") as src, gzip.open(d / "app.log.1.gz", "wb") as dst:
            shutil.copyfileobj(src, dst)
        os.unlink(d / "app.log.1")
        earlier = log.stat().st_mtime_ns - 10**9
        os.utime(log, ns=(earlier, earlier))  # (its mtime settled before the look that saves it)
        f.poll(2)
        f.restart()  # (kill -9: what was committed stays)
        with caplog.at_level(logging.WARNING, logger="shipper.tail"):
            f.poll(2)
        named = [r.getMessage() for r in caplog.records if "between the copy" in r.getMessage()]
        assert named == []
        assert f.tailer.losses == 0
    finally:
        f.tailer.close()
