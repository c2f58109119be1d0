"""A copytruncate copy renamed or deleted by the rotation that overtook the scan (torture seed 150551, an examiner's,
and 180229: one line twice, silently). The live file, read to its end, is copied and truncated; the scan that finds it cut lists the copy,
then a rotation renames the copy before the scan compares it. The truncated content is looked for in the copy under
the name it has now, at that scan: left to the next scan, it was said lost ("truncated in place and no copy of it was
found") and the same scan read the copy from 0 as a new file, through the descriptor that listed it."""
from __future__ import annotations

import gzip
import logging
import os
import shutil

import pytest

from shipper.tail import scan_rules
from tests.tail.conftest import Follower
from tests.tail.test_files import write
from tests.tail.test_overtaken_scan import expect, overtake, records, warnings


@pytest.fixture
def fast_missing(monkeypatch):
    monkeypatch.setattr(scan_rules, "MISSING_SECONDS", 0.0)


def gzip_away(path) -> None:
    """logrotate `compress`: the backup's .gz, the backup deleted."""
    with open(path, "rb") as src, gzip.open(f"{path}.gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    os.unlink(path)


def test_the_copy_of_a_file_read_to_its_first_line_renamed_during_the_scan(tmp_path, fast_missing, caplog):
    d = tmp_path / "logs"
    d.mkdir()
    log = d / "app.log"
    write(log, "line 0")
    f = Follower([log], d)
    try:
        f.poll()  # line 0 read: all the file holds (its first line)
        write(log, *[f"line {i}" for i in range(1, 5)])
        shutil.copyfile(log, d / "app.log.1")  # copytruncate
        os.truncate(log, 0)

        def rotate():  # logrotate `create`, between the listing and the comparison
            os.rename(d / "app.log.1", d / "app.log.2")
            os.rename(log, d / "app.log.1")
            write(log, "line 5")

        overtake(f, rotate)
        with caplog.at_level(logging.INFO, logger="shipper.tail"):
            f.settle()
        assert records(f) == expect(6)
        assert not [m for m in warnings(caplog) if "no copy of it was found" in m]
    finally:
        f.tailer.close()


def test_the_compressed_copy_renamed_during_the_scan(tmp_path, fast_missing, caplog):
    """The seed's own shape: the copy compressed (delaycompress) before the scan, the truncated file rotated behind
    it, and the scan overtaken by the next rotation, which renames the copy's .gz one step on."""
    d = tmp_path / "logs"
    d.mkdir()
    log = d / "app.log"
    write(log, "line 0")
    f = Follower([log], d)
    try:
        f.poll()
        write(log, *[f"line {i}" for i in range(1, 5)])
        shutil.copyfile(log, d / "app.log.1")
        os.truncate(log, 0)
        os.rename(d / "app.log.1", d / "app.log.2")
        gzip_away(d / "app.log.2")
        os.rename(log, d / "app.log.1")
        write(log, "line 5")

        def rotate():
            os.rename(d / "app.log.2.gz", d / "app.log.3.gz")
            os.rename(d / "app.log.1", d / "app.log.2")
            gzip_away(d / "app.log.2")
            os.rename(log, d / "app.log.1")
            write(log, "line 6")

        overtake(f, rotate)
        with caplog.at_level(logging.INFO, logger="shipper.tail"):
            f.settle()
        assert sorted(records(f)) == expect(7)
        assert not [m for m in warnings(caplog) if "no copy of it was found" in m]
    finally:
        f.tailer.close()


def test_the_compressed_copy_deleted_during_the_scan(tmp_path, fast_missing, caplog):
    """Seed 180229's shape: one backup (`rotate 1`, `compress`); the rotation that overtook the scan deletes the
    copy's .gz, the only backup, and compresses the truncated file, written to once more, in its place."""
    d = tmp_path / "logs"
    d.mkdir()
    log = d / "app.log"
    write(log, "line 0")
    f = Follower([log], d)
    try:
        f.poll()
        write(log, *[f"line {i}" for i in range(1, 5)])
        shutil.copyfile(log, d / "app.log.1")
        os.truncate(log, 0)
        gzip_away(d / "app.log.1")

        def rotate():
            write(log, "line 5")
            os.unlink(d / "app.log.1.gz")
            os.rename(log, d / "app.log.1")
            gzip_away(d / "app.log.1")
            write(log, "line 6")

        overtake(f, rotate)
        with caplog.at_level(logging.INFO, logger="shipper.tail"):
            f.settle()
        assert sorted(records(f)) == expect(7)
        assert not [m for m in warnings(caplog) if "no copy of it was found" in m]
    finally:
        f.tailer.close()


def test_the_copy_of_a_file_read_past_its_first_line_renamed_during_the_scan(tmp_path, fast_missing, caplog):
    """The neighbour that held before: read past its first line, the content is proven by what was read."""
    d = tmp_path / "logs"
    d.mkdir()
    log = d / "app.log"
    write(log, "line 0", "line 1")
    f = Follower([log], d)
    try:
        f.poll()
        write(log, *[f"line {i}" for i in range(2, 5)])
        shutil.copyfile(log, d / "app.log.1")
        os.truncate(log, 0)

        def rotate():
            os.rename(d / "app.log.1", d / "app.log.2")
            os.rename(log, d / "app.log.1")
            write(log, "line 5")

        overtake(f, rotate)
        with caplog.at_level(logging.INFO, logger="shipper.tail"):
            f.settle()
        assert records(f) == expect(6)
        assert not [m for m in warnings(caplog) if "no copy of it was found" in m]
    finally:
        f.tailer.close()
