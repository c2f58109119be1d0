"""A live file with a header, read no further than it, then, between two looks (the agent stopped, or only not
looking), written, copied by copytruncate (lines written between the copy and the truncation), truncated and given
its header again, written again, and renamed on by a `create` rotation that moves the copy one name further
(torture seed 185102, `--overtaken`: 5 lines of seen files lost, no loss warned). The content is found on its own
inode under app.log.1 and reads on after its header; the copy, under app.log.2, is read as a new file. Nothing is
read twice, and the window was unsaid: no byte the content was read to differs (only its header was read). A
rotation by renaming keeps the older file under the older name; the copy, born after the file and behind it, was
made by copying while the file was live, and holds bytes after the header that the file no longer holds there: the
window is named. With Log4j 2's `fileIndex="max"` a file born later is under a larger number too; it was written
after the file (it was the next live file), which a copy made before the file's last lines was not: no window."""
from __future__ import annotations

import logging
import os
import shutil

import pytest

from shipper.tail import birth, scan_rules
from tests.tail.conftest import Follower

HEADER = b"# time level logger message (a header every file shares)\n"


def _born(path) -> int | None:
    return birth.born(str(path), os.stat(path).st_ino)


def _new_file_born_after(path, older) -> None:
    """Create `path`, born after `older`: the file system's clock is coarse (a tick of a few ms), and a copy made in
    the same tick as its original would show no order. (Not timed: created again until the tick has passed.)"""
    while True:
        open(path, "wb").close()
        if _born(path) is None or _born(path) > _born(older):
            return
        os.unlink(path)


def _append(path, *lines: str) -> None:
    with open(path, "ab") as w:
        w.write(b"".join(x.encode() + b"\n" for x in lines))


def _warned(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


@pytest.mark.parametrize("stopped", [True, False], ids=["while_stopped", "between_two_looks"])
def test_a_copy_under_an_older_rotated_name_than_its_cut_original_names_the_window(tmp_path, monkeypatch, caplog,
                                                                                     stopped):
    monkeypatch.setattr(scan_rules, "MISSING_SECONDS", 0.0)
    live = tmp_path / "app.log"
    live.write_bytes(HEADER)
    f = Follower([live], tmp_path)
    try:
        f.poll()  # read to its header: nothing more is in it
        if stopped:
            f.tailer.close()
        _append(live, "seq 0 x", "seq 1 xx")
        os.utime(live, ns=(os.stat(live).st_atime_ns, os.stat(live).st_mtime_ns - 1_000_000_000))  # (a second ago)
        _new_file_born_after(tmp_path / "app.log.1", live)
        with open(tmp_path / "app.log.1", "r+b") as w:  # copytruncate: the copy (`cp -p`) …
            w.write(live.read_bytes())
        shutil.copystat(live, tmp_path / "app.log.1")
        _append(live, "seq 2 xxx")  # … written to between the copy and the truncation: in no file
        with open(live, "r+b") as w:
            w.truncate(0)
            w.write(HEADER)  # the writer's header again
        _append(live, "seq 3 x")
        os.rename(tmp_path / "app.log.1", tmp_path / "app.log.2")  # then a `create` rotation
        os.rename(live, tmp_path / "app.log.1")
        live.write_bytes(HEADER + b"seq 4 xx\n")
        if stopped:
            f.tailer = f._new()  # started again from the committed checkpoints
        with caplog.at_level(logging.WARNING, logger="shipper.tail"):
            f.poll(3)
        assert sorted(x for x in f.lines() if not x.startswith(b"#")) == [b"seq 0 x", b"seq 1 xx", b"seq 3 x",
                                                                          b"seq 4 xx"]
        if _born(tmp_path / "app.log.2") is not None:  # (a file system that keeps birth times: ext4, xfs, btrfs)
            named = [m for m in _warned(caplog) if "between the copy" in m]
            assert len(named) == 1 and str(tmp_path / "app.log.2") in named[0], _warned(caplog)
            assert f.tailer.losses == 1
    finally:
        f.tailer.close()


def test_a_rollover_to_a_larger_number_names_no_window(tmp_path, monkeypatch, caplog):
    """Log4j 2's DefaultRolloverStrategy, fileIndex="max" (its default): the newer backup has the larger number."""
    monkeypatch.setattr(scan_rules, "MISSING_SECONDS", 0.0)
    live = tmp_path / "app.log"
    live.write_bytes(HEADER)
    f = Follower([live], tmp_path)
    try:
        f.poll()  # read to its header
        _append(live, "seq 0 x", "seq 1 xx")
        os.utime(live, ns=(os.stat(live).st_atime_ns, os.stat(live).st_mtime_ns - 1_000_000_000))  # (a second ago)
        os.rename(live, tmp_path / "app.log.1")  # the first rollover
        _new_file_born_after(live, tmp_path / "app.log.1")
        _append(live, HEADER.decode().rstrip("\n"), "seq 2 xxx", "seq 3 x")
        os.rename(live, tmp_path / "app.log.2")  # the next: a larger number
        live.write_bytes(HEADER + b"seq 4 xx\n")
        with caplog.at_level(logging.WARNING, logger="shipper.tail"):
            f.poll(3)
        assert sorted(x for x in f.lines() if not x.startswith(b"#")) == [b"seq 0 x", b"seq 1 xx", b"seq 2 xxx",
                                                                          b"seq 3 x", b"seq 4 xx"]
        assert not _warned(caplog)
    finally:
        f.tailer.close()
