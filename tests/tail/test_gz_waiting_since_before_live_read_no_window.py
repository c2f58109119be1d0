"""Torture seeds 300195 (`make torture SEED=300000`, with and without the holder) and 192147 (`--overtaken`, no
holder): while the agent is away (killed, or frozen, then restarted), `create` rotations with `delaycompress` (a
header every file shares) leave the new live file holding its header only, the file before it under app.log.1 and
the one before that compressed into app.log.2.gz — born after the live file (compressed at the rotation that made it),
starting with its header, holding lines no read saw. At the restart both backups are shorter than what was read of the
live file before the stop (a content gone now, the same header): too short to tell, they wait (copies.is_copy). The new
live file is read to its header at that scan and written to. Once the wait was over, copies.copied_before_invisible_
truncation took the .gz for a copytruncate copy of the live file made before a cut its bytes cannot show (born after
it, its head, more bytes) and named a window no copytruncate made: a false loss. Listed before the live file was read,
the .gz is no copy of lines written after that read."""
from __future__ import annotations

import gzip
import logging
import os
import shutil
import time

import pytest

from shipper.tail import scan_rules
from tests.tail.conftest import Follower

HEADER = b"# time level logger message (a header every file shares)\n"


@pytest.fixture(autouse=True)
def fast_waits(monkeypatch):
    monkeypatch.setattr(scan_rules, "MISSING_SECONDS", 0.0)
    monkeypatch.setattr(scan_rules, "UNDECIDED_SECONDS", 0.2)


def lines(first: int, n: int) -> bytes:
    return b"".join(b"seq %d %s\n" % (i, b"x" * (i % 13)) for i in range(first, first + n))


def append(path, data: bytes) -> None:
    with open(path, "ab") as w:
        w.write(data)


def gzip_file(plain) -> None:
    with open(plain, "rb") as src, gzip.open(f"{plain}.gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    os.unlink(plain)


def rotate(d) -> None:
    """logrotate `create`, `rotate 2`, `delaycompress`: the oldest backup deleted, the others shifted, the live file
    renamed to app.log.1 and made again with its header, then app.log.2 compressed."""
    if (d / "app.log.2.gz").exists():
        os.unlink(d / "app.log.2.gz")
    if (d / "app.log.1").exists():
        os.rename(d / "app.log.1", d / "app.log.2")
    os.rename(d / "app.log", d / "app.log.1")
    (d / "app.log").write_bytes(HEADER)
    if (d / "app.log.2").exists():
        gzip_file(d / "app.log.2")


def test_a_gz_waiting_since_before_the_live_file_was_read_is_no_copy_of_it(tmp_path, caplog):
    d = tmp_path / "logs"
    d.mkdir()
    log = d / "app.log"
    log.write_bytes(HEADER + lines(0, 20))
    f = Follower([log], d)
    try:
        f.poll()  # read to its end: 20 lines
        # Away: three rotations, a few lines in each file. The file read above is deleted (rotated out); the one
        # after it (7 lines) is compressed into app.log.2.gz after the live file was made; app.log.1 holds 13 lines.
        rotate(d)
        append(log, lines(20, 7))
        rotate(d)
        append(log, lines(27, 13))
        rotate(d)
        assert not (d / "app.log.1").read_bytes().startswith(HEADER + lines(0, 1))
        f.restart()
        f.poll()
        waiting = {os.path.basename(path) for _, path, _, _ in f.tailer.prospector.undecided.values()}
        assert waiting == {"app.log.1", "app.log.2.gz"}, "both backups are to wait, too short to tell"
        append(log, lines(40, 5))
        with caplog.at_level(logging.WARNING, logger="shipper.tail"):
            time.sleep(0.3)  # (their wait over)
            f.poll()
            f.poll()
        windows = [r.getMessage() for r in caplog.records if "between the copy" in r.getMessage()]
        assert windows == [], windows
        assert sorted(x for x in f.lines() if not x.startswith(b"#")) == sorted(lines(0, 45).splitlines())
    finally:
        f.tailer.close()

