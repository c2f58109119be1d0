"""A deleted `.gz` let go unread (a stop, a holder no successor took) is named by what it holds, not by its compressed
size (session 21, gzstorm23). The ledger took its size on disk for its length: a Log4j 2 `.gz` of a 4,008-byte file
held at a stop during a storm was named as 420 bytes, and one the tailer had read in part (its position counted in
decompressed bytes, past the compressed size) was taken as read to its end and not named at all."""
from __future__ import annotations

import gzip
import logging
import os

from shipper.tail.events import TailEvents
from shipper.tail.losses import LossLedger

LINES = b"".join(b'{"seq":%d,"pad":"x"}\n' % n for n in range(10000, 10167))  # 4,008 bytes, as a Log4j 2 file


def deleted_gz(tmp_path) -> int:
    """A descriptor of app.log.2.gz (LINES compressed), deleted."""
    path = tmp_path / "app.log.2.gz"
    path.write_bytes(gzip.compress(LINES))
    fd = os.open(path, os.O_RDONLY)
    os.unlink(path)
    return fd


def let_go(tmp_path, caplog, read):
    fd = deleted_gz(tmp_path)
    try:
        ledger = LossLedger(logging.getLogger("test.let_go_gz"), TailEvents())
        with caplog.at_level(logging.WARNING, logger="test.let_go_gz"):
            ledger.let_go([(fd, str(tmp_path / "app.log"), read)], "the agent stopped")
    finally:
        os.close(fd)
    return ledger, [r for r in caplog.records if r.getMessage().startswith("data lost")]


def test_a_deleted_gz_never_read_is_named_by_what_it_holds(tmp_path, caplog):
    ledger, named = let_go(tmp_path, caplog, 0)
    assert len(named) == 1 and ledger.losses == 1
    assert named[0].bytes_lost == len(LINES), named[0].getMessage()
    assert "4008 bytes or more" in named[0].getMessage()  # (a gzip trailer holds the length of its last member only)


def test_a_deleted_gz_read_in_part_is_named_with_what_was_not_read(tmp_path, caplog):
    ledger, named = let_go(tmp_path, caplog, 2000)  # (2,000 bytes of it read: more than its compressed size)
    assert len(named) == 1, "a .gz read in part, deleted and let go, was not named"
    assert named[0].bytes_lost == len(LINES) - 2000


def test_a_deleted_gz_read_to_its_end_is_not_named(tmp_path, caplog):
    ledger, named = let_go(tmp_path, caplog, len(LINES))
    assert named == [] and ledger.losses == 0
