"""Torture seed 300059 (`SEED=300000 --overtaken --no-holder`): a window named where no copytruncate ran.

The live file, read to its header, is copytruncated (one window, named) and its content taken on by the header-only
copy. Then, with no scan between, two `create` rotations: the live file, written to, goes to app.log.1 and on to a
.gz, the writer's next file (lines, never read) to app.log.1, and a third file, header only, is made at the live name;
the header-only copy is compressed and deleted. A rotation overtakes the next scan: it lists the new live file and the
file before it, then renames both. The header-only content, its inode gone, takes the new live file (found under
app.log.1 now), read to its header; the file before it, opened as listed and renamed since, listed longer, was taken by
Prospector._listed_copy_of_cut_live for a copy of that live file made before a cut: a second window. Born before the
live file, it is the file before it, renamed by `create`: no copy of it (a copy is made after the file it copies)."""
from __future__ import annotations

import gzip
import logging
import os
import shutil

import pytest

from shipper.tail import scan_rules
from tests.tail.conftest import Follower
from tests.tail.test_overtaken_scan import overtake

HEADER = b"# time level logger message (a header every file shares)\n"


@pytest.fixture(autouse=True)
def fast_missing(monkeypatch):
    monkeypatch.setattr(scan_rules, "MISSING_SECONDS", 0.0)


def lines(first: int, n: int) -> bytes:
    return b"".join(b"seq %d %s\n" % (i, b"x" * (i % 13)) for i in range(first, first + n))


def gzip_away(d, plain: str) -> None:
    """`delaycompress`'s step: `plain` compressed to `plain`.gz, then deleted."""
    with open(d / plain, "rb") as src, gzip.open(d / f"{plain}.gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    os.unlink(d / plain)


def create_rotation(d, written: bytes = b"") -> None:
    """`create`, `rotate 3`, `compress`, `delaycompress`: the oldest deleted, the others shifted, app.log.2 compressed;
    the writer's next file gets the header (and `written`)."""
    for name in ("app.log.3", "app.log.3.gz"):
        if (d / name).exists():
            os.unlink(d / name)
    if (d / "app.log.2.gz").exists():
        os.rename(d / "app.log.2.gz", d / "app.log.3.gz")
    if (d / "app.log.1").exists():
        os.rename(d / "app.log.1", d / "app.log.2")
    os.rename(d / "app.log", d / "app.log.1")
    (d / "app.log").write_bytes(HEADER + written)
    if (d / "app.log.2").exists():
        gzip_away(d, "app.log.2")


def test_a_create_backup_listed_longer_than_a_live_file_born_after_it_is_no_copy_of_it(ext4_tmp, caplog):
    d = ext4_tmp / "logs"
    d.mkdir()
    (d / "app.log.2").write_bytes(HEADER + lines(100, 5))  # an older backup, read and closed over the budget
    log = d / "app.log"
    log.write_bytes(HEADER)
    f = Follower([log], d, max_open=1)
    try:
        with caplog.at_level(logging.WARNING, logger="shipper.tail"):
            f.poll()  # the live file, read to its header
            shutil.copyfile(log, d / "app.log.1")  # copytruncate: a header-only copy ...
            with open(log, "r+b") as w:
                w.truncate(0)
                w.write(HEADER)  # ... the file cut and given its header again
            f.poll()  # (its window named: one copytruncate, one window)
            with open(log, "ab") as w:
                w.write(lines(0, 20))  # the live file written, never read ...
            os.rename(d / "app.log.2", d / "app.log.3")  # ... renamed, as are the older backup and the copy ...
            os.rename(d / "app.log.1", d / "app.log.2")
            os.rename(log, d / "app.log.1")
            log.write_bytes(HEADER + lines(20, 2))  # ... the writer's next file, with lines
            gzip_away(d, "app.log.2")  # (the copy compressed)
            create_rotation(d)  # the older backup deleted (ext4 gives its inode to the next live file, header only),
            # the two renamed on (the first compressed)
            overtake(f, lambda: create_rotation(d))  # a rotation overtakes the next scan
            for _ in range(3):
                f.poll()
        windows = [r.getMessage() for r in caplog.records if "between the copy" in r.getMessage()]
        assert len(windows) == 1, windows
        got = [x for x in f.lines() if not x.startswith(b"#")]
        assert len(got) == len(set(got)) and set(lines(0, 22).splitlines()) <= set(got), got
    finally:
        f.tailer.close()
