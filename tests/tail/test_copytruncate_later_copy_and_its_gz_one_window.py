"""Torture seed 400098 (`make torture SEED=400000`, with the holder): two copytruncates in a row (a header every file
shares; the second copies the live file empty, as the first left it), then a `create` rotation with `delaycompress`
before the next scan: the second copy, held by the holder as it appeared, is compressed into app.log.2.gz and deleted.
At the scan the live file is found cut, what was read of it in the first copy (its window named), and each backup made
after that copy is a later copytruncate's (copies.later_copy_of_cut): the held copy and its .gz were named two windows,
three for two copytruncates, a false loss. A .gz born after a plain file deleted since, holding its bytes, is that
file compressed: one copy, one window."""
from __future__ import annotations

import gzip
import logging
import os
import shutil

import pytest

from shipper.tail import scan_rules
from tests.tail.stepped_holder import stepped_holder

HEADER = b"# time level logger message (a header every file shares)\n"


@pytest.fixture(autouse=True)
def fast_missing(monkeypatch):
    monkeypatch.setattr(scan_rules, "MISSING_SECONDS", 0.0)


def copytruncate(d) -> None:
    for i in (2, 1):
        if (d / f"app.log.{i}").exists():
            os.rename(d / f"app.log.{i}", d / f"app.log.{i + 1}")
    shutil.copyfile(d / "app.log", d / "app.log.1")
    os.truncate(d / "app.log", 0)


def test_a_held_later_copy_and_its_gz_name_one_window(tmp_path, caplog):
    d = tmp_path / "logs"
    d.mkdir()
    log = d / "app.log"
    log.write_bytes(HEADER)
    with stepped_holder(str(log), d) as h:
        h.scan_and_read()  # read to its header
        with open(log, "ab") as w:
            w.write(b"".join(b"seq %d\n" % i for i in range(20)))
        with caplog.at_level(logging.WARNING, logger="shipper.tail"):
            copytruncate(d)  # the first: its copy holds the header and the lines
            copytruncate(d)  # the second: its copy is empty
            h.turn()  # the holder holds the empty copy (app.log.1)
            # `create` + `delaycompress`: the backups shifted, the live file renamed, app.log.2 compressed
            os.rename(d / "app.log.2", d / "app.log.3")
            os.rename(d / "app.log.1", d / "app.log.2")
            os.rename(log, d / "app.log.1")
            log.write_bytes(HEADER)
            with open(d / "app.log.2", "rb") as src, gzip.open(d / "app.log.2.gz", "wb") as dst:
                shutil.copyfileobj(src, dst)
            os.unlink(d / "app.log.2")
            h.turn()
            for _ in range(3):
                h.scan_and_read()
        windows = [r.getMessage() for r in caplog.records if "between the copy" in r.getMessage()]
        assert len(windows) == 2, windows
        got = [x for x in h.f.lines() if not x.startswith(b"#")]
        assert sorted(got) == sorted(b"seq %d" % i for i in range(20))
