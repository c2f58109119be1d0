"""New files the tailer meets before the holder reads their creation, closed over the tailer's descriptor budget
before it does (session 22, hold13; issue 13). tests/tail/test_many_sources_share_the_descriptor_limit.py [8-40-256]
named 2 of its 320 new files lost under heavy load, none gone: `data lost: an unknown number of bytes of …/f34.log were
in 1 rotated file(s) that appeared and were gone before they could be held (… it was behind, starved of CPU, or
frozen)`. The tailer's scan found each new file before the holder's thread (one for every source, behind under
load) read its IN_CREATE: at that first sight of its family the file was taken as there before the watch (credited,
paying nothing), to pay its creation when that event came and found it still open in the tailer. Eight sources of
40 files share the tailer's descriptors (16 each): by then the tailer had closed it, so the event found a file the
holder held anew, or met unheld, already credited; its creation stayed owed, and after the settle time was named an
escape. The holder is stepped here (held off while the tailer scans: a holder a scan behind), the tailer's budget is
2 files, and the settle time is 0 (what is owed is an escape once it outlasts one take)."""
from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from shipper.tail.holder import Holder
from tests.tail.conftest import Follower
from tests.tail.stepped_holder import SteppedHolder

NEW = 4  # new files, each written twice


@contextlib.contextmanager
def stepped_over_new_files(logs: Path, hold_files: int) -> Iterator[SteppedHolder]:
    """A stepped holder of `hold_files` files serving a tailer of `logs`/*.log with 2 descriptors."""
    holder = Holder(max_files=hold_files)
    holder.settle = 0
    assert holder.start()
    off = contextlib.ExitStack()
    off.enter_context(holder.paused())
    glob = str(logs / "*.log")
    s = SteppedHolder(holder, off, Follower([glob], logs, max_open=2), glob, str(logs))
    s.match = lambda p: p.endswith(".log")
    s.f.tailer.holder = holder
    try:
        holder.watch_more(set(), {str(logs)}, s.match)
        yield s
    finally:
        s.close()


def append(path: Path, seq: int) -> None:
    with open(path, "a") as f:
        f.write(json.dumps({"seq": seq}) + "\n")


# 16: the holder has room, and holds the files the tailer closed; 1: it is full, and meets them unheld.
@pytest.mark.parametrize("hold_files", [16, 1])
def test_new_files_the_tailer_met_and_closed_before_the_holder_read_their_creation_are_not_named_lost(
        tmp_path, hold_files, caplog):
    caplog.set_level(logging.WARNING, logger="shipper.tail")
    logs = tmp_path / "logs"
    logs.mkdir()
    with stepped_over_new_files(logs, hold_files) as h:
        h.scan_and_read()
        for k in range(NEW):
            append(logs / f"f{k}.log", k)
        gone = logs / "gone.log"
        append(gone, 99)
        os.unlink(gone)  # created and deleted before anything met it: a real escape, named
        h.scan_and_read()  # the tailer's first sight of the new files
        for k in range(NEW):
            append(logs / f"f{k}.log", NEW + k)
        h.scan_and_read()  # over its budget, it closes some of them
        closed = [x.path for x in h.f.tailer.files.values() if x.fh is None]
        assert closed  # (the premise: files met and closed by the tailer before the holder's turn)
        h.turn()  # the holder reads the creations now, a scan behind
        for _ in range(3):
            h.scan_and_read()
        assert sorted(h.f.seqs()) == list(range(2 * NEW))
        named = [r.getMessage() for r in caplog.records if "lost" in r.getMessage()]
        assert len(named) == 1 and f"{gone} (the whole file" in named[0], "\n".join(named)
        assert h.f.tailer.losses == 1


# rotate: renamed to a rotated name, then deleted; delete: deleted at its live name.
@pytest.mark.parametrize("rotate", [True, False], ids=["rotated-deleted", "deleted"])
def test_a_new_file_the_tailer_read_and_that_was_gone_when_the_holder_read_its_creation_is_not_named_lost(
        tmp_path, rotate, caplog):
    """The holder reads, a few scans behind, the IN_CREATE of a file the tailer's first sight presumed there before
    the watch and read whole; the file is gone by then: its open finds ENOENT, and the event no longer says which file
    it was (hold13's report, noticed)."""
    caplog.set_level(logging.WARNING, logger="shipper.tail")
    logs = tmp_path / "logs"
    logs.mkdir()
    with stepped_over_new_files(logs, 16) as h:
        h.scan_and_read()
        f0 = logs / "f0.log"
        append(f0, 0)
        h.scan_and_read()  # the tailer's first sight of f0.log: read whole
        assert sorted(h.f.seqs()) == [0]
        if rotate:
            os.rename(f0, logs / "f0.log.1")
            os.unlink(logs / "f0.log.1")
        else:
            os.unlink(f0)
        for _ in range(2):
            h.scan_and_read()  # the tailer finds it gone
        h.turn()  # the holder reads its creation now, the file gone
        for _ in range(3):
            h.scan_and_read()
        h.turn()
        h.scan_and_read()
        assert sorted(h.f.seqs()) == [0]
        named = [r.getMessage() for r in caplog.records if "lost" in r.getMessage()]
        assert not named, "\n".join(named)
        assert h.f.tailer.losses == 0


@pytest.mark.parametrize("there_at_watch", [True, False], ids=["there-at-watch", "made-since"])
def test_a_new_file_gone_unseen_after_a_presumed_one_is_still_named_lost(tmp_path, there_at_watch, caplog):
    """What the test above lets pay is one creation per presumed file made since its folder's watch (its own IN_CREATE
    is one of those read); a file there when the watch began has no IN_CREATE: its presumption pays nothing. After
    either, a file made under the same name and rotated away and deleted before anything met it is named lost."""
    caplog.set_level(logging.WARNING, logger="shipper.tail")
    logs = tmp_path / "logs"
    logs.mkdir()
    f0 = logs / "f0.log"
    if there_at_watch:
        append(f0, 0)
    with stepped_over_new_files(logs, 16) as h:
        h.scan_and_read()
        if not there_at_watch:
            append(f0, 0)
            h.scan_and_read()  # the tailer's first sight of f0.log
        assert sorted(h.f.seqs()) == [0]
        for k in (1, 2):  # the one read, then one nothing met: rotated away and deleted
            if k == 2:
                append(f0, 99)
            os.rename(f0, logs / "f0.log.1")
            os.unlink(logs / "f0.log.1")
        for _ in range(2):
            h.scan_and_read()
        h.turn()
        for _ in range(3):
            h.scan_and_read()
        assert sorted(h.f.seqs()) == [0]
        named = [r.getMessage() for r in caplog.records if "lost" in r.getMessage()]
        assert len(named) == 1 and f"{f0} were in 1 rotated file(s)" in named[0], "\n".join(named)
