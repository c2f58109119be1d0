"""Torture seeds 300002 and 400005 (`make torture SEED=300000/400000`, with the holder and without): copytruncate with
`compress` of a live file read to its header (a header every file shares). The copy holds the header alone; lines are
written between the copy and the truncation, and a read comes in between: copies.head_copy_of_grown names the window
then (a copy of the head, the live file grown from it). After the truncation the copy is compressed; the content,
found cut, is found in the .gz holding that head, and gone.copytruncate_loss named the window again: two windows for
one copytruncate, a false loss an auditor would chase. The copy of a content's head that named its window, found
again (or its .gz), names it no more."""
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


@pytest.mark.parametrize("append_writer", [True, False], ids=["o_append", "no_o_append"])
def test_a_head_copy_window_named_between_copy_and_truncation_is_not_named_again_by_its_gz(tmp_path, caplog,
                                                                                            append_writer):
    d = tmp_path / "logs"
    d.mkdir()
    log = d / "app.log"
    log.write_bytes(HEADER)
    f = Follower([log], d)
    try:
        f.poll()  # read to its header
        with caplog.at_level(logging.WARNING, logger="shipper.tail"):
            shutil.copyfile(log, d / "app.log.1")  # copytruncate: the copy ...
            append(log, b"seq 0 written between the copy and the truncation\nseq 1 x\n")
            f.poll()  # ... a read in the window: the copy of the head, the file grown from it
            size = os.path.getsize(log)
            os.truncate(log, 0)  # ... the truncation
            if append_writer:
                append(log, HEADER)
            else:  # (`prog > app.log`: the writer goes on at its offset, a hole before its next line)
                with open(log, "r+b") as w:
                    w.seek(size)
                    w.write(b"seq 2 after the hole\n")
            with open(d / "app.log.1", "rb") as src, gzip.open(d / "app.log.1.gz", "wb") as dst:
                shutil.copyfileobj(src, dst)  # `compress`
            os.unlink(d / "app.log.1")
            for _ in range(3):
                f.poll()
        windows = [r.getMessage() for r in caplog.records if "between the copy" in r.getMessage()]
        assert len(windows) == 1, windows
        got = [x for x in f.lines() if not x.startswith(b"#")]
        assert len(got) == len(set(got)), got
    finally:
        f.tailer.close()
