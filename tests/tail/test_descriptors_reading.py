"""Descriptors.reading: the one way the scan's proofs open a file it listed. The bytes of another file
now under the name must never be taken for the listed one's, and the file is closed after the proof."""
from __future__ import annotations

import logging
import os

import pytest

from shipper.tail.descriptors import Descriptors, OnMoved
from shipper.tail.followed import MovedDuringScan, Observed

ALL: tuple[OnMoved, ...] = ("none", "raise", "raise_gone")


def listed(path) -> Observed:
    return Observed(str(path), str(path), True, os.stat(path), False)


@pytest.fixture
def fds() -> Descriptors:
    return Descriptors({}, 8, logging.getLogger("test"))


def test_the_listed_file_is_read_and_closed_after(tmp_path, fds):
    p = tmp_path / "app.log"
    p.write_bytes(b"one\n")
    with fds.reading(listed(p)) as fh:
        assert fh is not None and fh.read(0, 4) == b"one\n"
        fd = fh.fd
    assert fh.fd == -1
    with pytest.raises(OSError):
        os.fstat(fd)  # (no descriptor left behind)


def test_another_file_under_the_name_is_never_read(tmp_path, fds):
    p = tmp_path / "app.log"
    p.write_bytes(b"old\n")
    o = listed(p)
    keep = tmp_path / "app.log.1"
    os.rename(p, keep)  # a rotation between the listing and the open: the name holds the writer's next file
    p.write_bytes(b"new\n")
    with fds.reading(o) as fh:
        assert fh is None
    for on_moved in ALL[1:]:
        with pytest.raises(MovedDuringScan):
            with fds.reading(o, on_moved=on_moved):
                pytest.fail("the body ran on another file's bytes")


def test_a_name_gone_since_the_listing_is_moved_only_when_asked(tmp_path, fds):
    p = tmp_path / "app.log"
    p.write_bytes(b"x\n")
    o = listed(p)
    os.unlink(p)
    for on_moved in ALL[:2]:
        with fds.reading(o, on_moved=on_moved) as fh:
            assert fh is None
    with pytest.raises(MovedDuringScan):
        with fds.reading(o, on_moved="raise_gone"):
            pytest.fail("the body ran without a file")


def test_a_file_that_cannot_be_opened_is_none_whatever_the_mode(tmp_path, fds):
    f = tmp_path / "f"
    f.write_bytes(b"x\n")
    o = Observed(str(f / "x"), str(f / "x"), True, os.stat(f), False)  # ENOTDIR: an OSError, not a move
    for on_moved in ALL:
        with fds.reading(o, on_moved=on_moved) as fh:
            assert fh is None
