"""Torture seed 400238 (`make torture SEED=400000`, with the holder): 300002's case across a kill -9. copytruncate with
`compress` of a live file read to its first line; lines written between the copy and the truncation, and a read in
between: copies.head_copy_of_grown names the window then (a copy of the head, the file grown from it). The file is
cut, the copy compressed, then a kill -9: the restart finds the content cut, in the .gz holding its head, and
harvester.cut_after_copy named the window again — the note that it was named (Prospector._head_windows) lived in memory
only. It is kept with the content's state now (FileState.head_window): one window for one copytruncate."""
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


def append(path, data: bytes) -> None:
    with open(path, "ab") as w:
        w.write(data)


@pytest.mark.parametrize("head", [HEADER, b"seq 0 the first line, no header\n"], ids=["header", "first_line"])
def test_a_head_copy_window_is_not_named_again_after_a_kill(tmp_path, caplog, head):
    d = tmp_path / "logs"
    d.mkdir()
    (d / "app.log.2").write_bytes(b"seq -1 an older backup, its first line another\n")  # (its head tells theirs apart)
    log = d / "app.log"
    log.write_bytes(head)
    f = Follower([log], d)
    try:
        f.poll()  # read to its first line
        with caplog.at_level(logging.WARNING, logger="shipper.tail"):
            shutil.copyfile(log, d / "app.log.1")  # copytruncate: the copy ...
            append(log, b"seq 1 written between the copy and the truncation\nseq 2 x\n")
            f.poll()  # ... a read in the window: the copy of the head, the file grown from it
            os.truncate(log, 0)  # ... the truncation
            with open(d / "app.log.1", "rb") as src, gzip.open(d / "app.log.1.gz", "wb") as dst:
                shutil.copyfileobj(src, dst)  # `compress`
            os.unlink(d / "app.log.1")
            f.restart()  # a kill -9 (the state committed as delivered)
            for _ in range(3):
                f.poll()
        windows = [r.getMessage() for r in caplog.records if "between the copy" in r.getMessage()]
        assert len(windows) == 1, windows
        got = [x for x in f.lines() if not x.startswith(b"#")]
        assert len(got) == len(set(got)), got
    finally:
        f.tailer.close()
