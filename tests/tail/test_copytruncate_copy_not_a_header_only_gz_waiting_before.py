"""Torture seed 300279 (`make torture SEED=300000`, with and without the holder, and `--overtaken`): a `create`
rotation with `compress` of a live file read to its header (a header every file shares) leaves a header-only .gz,
born after the new live file (compressed after it was made), which waits to be told apart (copies.is_copy). The new
live file, read to its header at that scan, is written and copytruncated (`compress`: its copy is a .gz too), a line
in the window. At the next scan its content, cut in place and read no further than its head, was given to the oldest
same-headed file that could hold it: the waiting .gz, whose window was named, and the real copy named a later
copytruncate's window: two windows for one copytruncate. A file waiting since an earlier scan was there when the
content was last looked at, before the cut: no copy of that cut."""
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


def _gzip(plain, gz) -> None:
    with open(plain, "rb") as src, gzip.open(gz, "wb") as dst:
        shutil.copyfileobj(src, dst)
    os.unlink(plain)


def test_the_copy_of_a_cut_is_not_a_header_only_gz_waiting_since_the_last_look(tmp_path, caplog):
    d = tmp_path / "logs"
    d.mkdir()
    log = d / "app.log"
    log.write_bytes(HEADER)
    f = Follower([log], d)
    try:
        f.poll()
        os.rename(log, d / "app.log.1")  # `create` + `compress`
        log.write_bytes(HEADER)
        _gzip(d / "app.log.1", d / "app.log.1.gz")
        f.poll()
        assert f.tailer.prospector.undecided, "the header-only .gz is to wait, too short to tell"
        with open(log, "ab") as w:
            w.write(b"".join(b"line %d\n" % i for i in range(5)))
        with caplog.at_level(logging.WARNING, logger="shipper.tail"):
            os.rename(d / "app.log.1.gz", d / "app.log.2.gz")  # copytruncate + `compress`
            shutil.copyfile(log, d / "app.log.1")
            with open(log, "ab") as w:
                w.write(b"lost in the window\n")
            os.truncate(log, 0)
            with open(log, "ab") as w:
                w.write(HEADER)
            _gzip(d / "app.log.1", d / "app.log.1.gz")
            f.poll()
            f.poll()
        windows = [r.getMessage() for r in caplog.records if "between the copy" in r.getMessage()]
        assert len(windows) == 1 and "app.log.1.gz " in windows[0], windows
        assert [x for x in f.lines() if not x.startswith(b"#")] == [b"line %d" % i for i in range(5)]
    finally:
        f.tailer.close()
