"""Torture seed 197162 (`--overtaken`, with the holder; 192031, 192080, 192109 too): a `create` rotation with
`compress` of a live file read no further than its header (a header every file shares): the new live file holds the
header, the .gz of the old one too, born after it. Too short to tell from a copy of either, the .gz waits
(copies.is_copy). The live file then grows by appends, and at the next scan copies.head_copy_of_grown took the
waiting .gz for the copy of a copytruncate of it, made when it held its header only, then cut and given its header
again: a window named where no copytruncate ran, a false loss. The .gz was listed at the earlier scan already,
when the live file held its header and no more: a cut it shows, if any, came before that look (whose say it was),
and the live file has only grown since. A header-only copy found new beside the grown file is still named
(tests/tail/test_copytruncate_head_only_live.py)."""
from __future__ import annotations

import gzip
import logging
import os
import shutil

import pytest

from shipper.tail import scan_rules
from tests.tail.conftest import Follower

HEADER = b"# time level logger message (a header every file shares)\n"


@pytest.fixture(autouse=True)
def fast_missing(monkeypatch):
    monkeypatch.setattr(scan_rules, "MISSING_SECONDS", 0.0)


def test_a_header_only_gz_waiting_since_an_earlier_scan_is_no_copy_of_the_live_file_grown_since(tmp_path, caplog):
    d = tmp_path / "logs"
    d.mkdir()
    log = d / "app.log"
    log.write_bytes(HEADER)
    f = Follower([log], d)
    try:
        f.poll()
        # `create` + `compress`: renamed, a new live file with the header, the old one compressed
        os.rename(log, d / "app.log.1")
        log.write_bytes(HEADER)
        with open(d / "app.log.1", "rb") as src, gzip.open(d / "app.log.1.gz", "wb") as dst:
            shutil.copyfileobj(src, dst)
        os.unlink(d / "app.log.1")
        f.poll()
        assert f.tailer.prospector.undecided, "the .gz is to wait, too short to tell"
        with open(log, "ab") as w:
            w.write(b"line 0\nline 1\n")  # appended: grown from its header, never cut
        with caplog.at_level(logging.WARNING, logger="shipper.tail"):
            f.poll()
        named = [r.getMessage() for r in caplog.records if "between the copy" in r.getMessage()]
        assert named == []
        assert f.tailer.losses == 0
        assert [x for x in f.lines() if not x.startswith(b"#")] == [b"line 0", b"line 1"]
    finally:
        f.tailer.close()
