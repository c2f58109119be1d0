"""A followed file truncated in place (copytruncate), written again, then rotated away and deleted before the next
scan: the tailer's descriptor is the only way left to what was written after the cut. Found by the torture harness
once it counted the bytes each loss names (session 22, seed 192233: 57 lines lost, named only as "truncated in place
and no copy of it was found", a loss of unknown size that says nothing of lines the agent could still read): the scan
that found the file cut closed that descriptor, as for a file still at its name, which it opens again. Now the new
content is followed through a copy of the descriptor and read to its end."""
from __future__ import annotations

import logging
import os

import pytest

from tests.tail.conftest import Follower


@pytest.mark.parametrize("append", [True, False], ids=["appending writer", "writer without O_APPEND (a hole)"])
def test_truncated_then_deleted_is_read_through_its_descriptor(tmp_path, caplog, append):
    log = tmp_path / "app.log"
    log.write_bytes(b"one\ntwo\n")
    f = Follower([log], tmp_path)
    f.poll()
    assert f.lines() == [b"one", b"two"]
    # copytruncate (its copy made, then deleted by a cleaner), and the writer goes on: with O_APPEND from 0, without
    # it at its old offset (a hole of the 8 bytes cut)
    os.truncate(log, 0)
    with open(log, "r+b") as w:
        w.seek(0 if append else 8)
        w.write(b"three\nfour\nfive\n")
    os.rename(log, tmp_path / "app.log.1")  # a `create` rotation, and the backup deleted before any scan
    log.write_bytes(b"")
    os.unlink(tmp_path / "app.log.1")
    with caplog.at_level(logging.WARNING, logger="shipper.tail"):
        f.poll(3)
    assert f.lines() == [b"one", b"two", b"three", b"four", b"five"]
    assert "data lost" not in caplog.text  # (nothing was: all of it was read)
    f.tailer.close()
