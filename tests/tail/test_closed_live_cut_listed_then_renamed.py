"""Torture seed 197027 (`--overtaken`, with the holder and without): the live file, read to its end and closed (idle,
or over the descriptor budget), is copytruncated (lines written between the copy and the cut) and written again, to
fewer bytes than were read. A scan lists it under its name, shorter than what was read, and a rotation that overtakes
the scan renames it (and its copy) before the scan compares them: its bytes, under its new name, could not show the
content read, so it was taken for another file. Its content was then found whole in its copy and read on there, its
inode read anew from 0, and the window went without a word. Listed on its inode with its birth time (no other file
given the inode) and shorter than what was read, it was cut: truncated now, as when its name still holds it, and the
window named by its copy."""
from __future__ import annotations

import gzip
import logging
import os
import shutil

import pytest

from shipper.tail import scan_rules
from tests.tail.conftest import Follower
from tests.tail.test_overtaken_scan import overtake


@pytest.fixture(autouse=True)
def fast_missing(monkeypatch):
    monkeypatch.setattr(scan_rules, "MISSING_SECONDS", 0.0)


def _write(path, *lines: str) -> None:
    with open(path, "ab") as w:
        w.write(b"".join(f"{x}\n".encode() for x in lines))


def test_a_closed_live_file_listed_cut_and_renamed_during_the_scan_names_its_window(ext4_tmp, caplog):
    d = ext4_tmp / "logs"
    d.mkdir()
    log = d / "app.log"
    _write(log, *[f"line {i} {'x' * 20}" for i in range(10)])
    f = Follower([log], d, close_inactive=0.0)
    try:
        f.poll()
        f.tailer.close_idle()
        assert all(x.fh is None for x in f.tailer.prospector.files.values())
        shutil.copyfile(log, d / "app.log.1")  # copytruncate: the copy …
        _write(log, "lost in the window")  # … a line after it …
        os.truncate(log, 0)  # … the cut
        _write(log, "line 10", "line 11")  # written again, shorter than what was read

        def rotate():  # `create` with delaycompress, after the listing, before the compare
            os.rename(d / "app.log.1", d / "app.log.2")
            os.rename(log, d / "app.log.1")
            log.write_bytes(b"")
            with open(d / "app.log.2", "rb") as src, gzip.open(d / "app.log.2.gz", "wb") as dst:
                shutil.copyfileobj(src, dst)
            os.unlink(d / "app.log.2")

        overtake(f, rotate)
        with caplog.at_level(logging.WARNING, logger="shipper.tail"):
            f.poll()
            f.poll()
        windows = [r.getMessage() for r in caplog.records if "between the copy" in r.getMessage()]
        assert len(windows) == 1, [r.getMessage() for r in caplog.records]
        lines = [x.decode().split()[1] for x in f.lines()]
        assert lines == [str(i) for i in range(12)]
    finally:
        f.tailer.close()
