"""A new `.gz` holding more than a whole (complete) followed `.gz` with the same first line is no copy of it: a copy
of a compressed file holds its bytes and no more. copies.is_copy left it waiting as "too short to tell" (it compared
no more than the shorter file's length, the shared header), UNDECIDED_SECONDS, then read it with a warning that its
lines may be repeated. Two `create` + `compress` rotations between two looks, lines written to the file between them:
that file's `.gz`, never seen, waited beside a header-only `.gz` the agent had read. Restarted (kill -9) within the
wait, the agent began it again each time; the file deleted meanwhile, its lines were lost without a word (torture
seed 193030, 16 lines, once copies.head_copy_of_grown no longer took a header-only `.gz` born before the live file
for its copy: that false copytruncate window had been the only loss named)."""
from __future__ import annotations

import gzip
import logging
import os
import shutil

from shipper.tail import scan_rules
from tests.tail.conftest import Follower
from tests.tail.test_files import write

HEADER = "# time level logger message"


def gzip_file(path: str) -> None:
    with open(path, "rb") as src, gzip.open(f"{path}.gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    os.unlink(path)


def rotate_compress(log) -> None:
    """logrotate `create` + `compress`, backups kept: each .N.gz shifted on, the live file renamed and compressed,
    a new live file given the header."""
    folder = os.path.dirname(log)
    for i in sorted((int(n.split(".")[2]) for n in os.listdir(folder) if n.endswith(".gz")), reverse=True):
        os.rename(f"{log}.{i}.gz", f"{log}.{i + 1}.gz")
    os.rename(log, f"{log}.1")
    write(log, HEADER)
    gzip_file(f"{log}.1")


def first_look(folder, monkeypatch) -> tuple[str, Follower]:
    """The live file and a backup, each holding the header only; the backup, which holds no more than the live
    file's head, is read once its wait is over (no wait here: UNDECIDED_SECONDS 0 for this look only)."""
    log = folder / "app.log"
    write(log, HEADER)
    write(f"{log}.1", HEADER)
    gzip_file(f"{log}.1")
    f = Follower([log], folder)
    with monkeypatch.context() as m:
        m.setattr(scan_rules, "UNDECIDED_SECONDS", 0.0)
        f.poll()
    return str(log), f


def test_a_gz_holding_more_than_a_whole_header_only_gz_is_read_at_once(tmp_path, monkeypatch, caplog):
    log, f = first_look(tmp_path, monkeypatch)
    caplog.clear()  # (the backup's own wait, at the first look)
    try:
        with caplog.at_level(logging.INFO, logger="shipper.tail"):
            rotate_compress(log)
            write(log, "line 0", "line 1", "line 2")
            rotate_compress(log)  # the file holding the lines, never seen, is app.log.1.gz now
            f.poll()
        assert [r for r in f.lines() if not r.startswith(b"#")] == [b"line 0", b"line 1", b"line 2"]
        assert not [r.getMessage() for r in caplog.records if "could not tell whether" in r.getMessage()
                    and f"{log}.1.gz" in r.getMessage()]
    finally:
        f.tailer.close()


def test_restarted_within_the_wait_and_deleted_the_lines_are_not_lost_unnamed(tmp_path, monkeypatch, caplog):
    """As seed 193030: the agent killed after the scan that found the `.gz`, then the file deleted by a cleaner."""
    log, f = first_look(tmp_path, monkeypatch)
    try:
        with caplog.at_level(logging.INFO, logger="shipper.tail"):
            rotate_compress(log)
            write(log, "line 0", "line 1", "line 2")
            rotate_compress(log)
            f.poll()
            f.restart()
            os.unlink(f"{log}.1.gz")
            f.settle()
        got = [r for r in f.lines() if not r.startswith(b"#")]
        lost = [r.getMessage() for r in caplog.records if r.getMessage().startswith("data lost")]
        assert got == [b"line 0", b"line 1", b"line 2"] or lost, (got, lost)
    finally:
        f.tailer.close()
