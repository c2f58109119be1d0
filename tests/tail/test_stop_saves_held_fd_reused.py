"""A stop with the output down saves each file this run found and did not deliver (Tailer.unsaved_states); one it
followed only through the holder's descriptor (a file the rotations brought while the reader was held back) and
deleted then is saved gone instead, its unread bytes named as the stop lets its descriptor go. The stop lets the
holder's descriptors go before that save: the numbers they had were asked whether their file was deleted, and a
number the process had given to another file meanwhile, deleted (a temporary file), made files still on disk be
saved gone, read to where they were found: deleted while the agent was stopped, their bytes went unnamed. Found with
exam13's catch-up scenario stopped with the output down again (session 21, catchup13, scratch runs at load ~45: the
live log and app.log.1, 100,008 bytes unread, saved gone at size 0)."""
from __future__ import annotations

import json
import logging
import os

import pytest

from shipper.tail import scan_rules
from tests.tail.conftest import Follower
from tests.tail.stepped_holder import stepped_holder


@pytest.fixture(autouse=True)
def fast_missing(monkeypatch):
    monkeypatch.setattr(scan_rules, "MISSING_SECONDS", 0.0)


def line(seq: int) -> str:
    return json.dumps({"seq": seq, "pad": "x" * 40}) + "\n"


def test_a_file_followed_through_a_held_descriptor_is_not_saved_gone_after_the_holder_lets_go(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    log = str(logs / "app.log")
    with open(log, "w") as fh:
        fh.writelines(line(i) for i in range(300))
    others: list[int] = []
    with stepped_holder(log, logs, batch_lines=100) as h:
        h.f.emit = lambda chunk: None  # the output down: nothing delivered, nothing saved
        h.scan_and_read()  # read, not delivered
        os.rename(log, log + ".1")  # a rotation while the reader is held back: the holder holds the next file
        with open(log, "w") as fh:
            fh.writelines(line(i) for i in range(300, 400))
        h.turn()
        t = h.f.tailer
        t.scan()  # it follows it, and reads nothing
        live = next(f for f in t.files.values() if f.path == log)
        t.know_unread_at_stop()  # identified
        # As a file followed through the holder's descriptor (the tailer's budget full): its own closed, the
        # holder's in its place; the stop lets that go (Holder.stop) before it saves.
        live.fh.close()
        live.fh, live.held_fd = None, os.open(log, os.O_RDONLY)
        os.close(live.held_fd)
        for i in range(8):  # the number given to another file, deleted (a temporary file)
            others.append(os.open(tmp_path / f"tmp{i}", os.O_CREAT | os.O_RDWR))
            os.unlink(tmp_path / f"tmp{i}")
        saved = t.unsaved_states({})
    for fd in others:
        os.close(fd)
    at_live = [(v["offset"], v["size"], v["gone"]) for v in saved.values() if v["path"] == log]
    assert at_live == [(0, os.stat(log).st_size, 0.0)], at_live


def test_a_file_deleted_after_the_stops_let_go_is_not_saved_gone(tmp_path, caplog):
    """The stop's let-go names the unread rest of the deleted files it lets go; a file deleted after it (a rotation
    during the stop, whose shutdown_timeout an output down fills) still open in the tailer was saved as the let-go's
    were, read up to where it was (gone, when none of it was read): its unread bytes went unnamed (here 12,800 of
    31,890; exam13's catch-up scenario stopped with the output down, session 21, scratch runs: app.log.1 and
    app.log.2, 100,008 bytes each, saved gone at size 0)."""
    logs = tmp_path / "logs"
    logs.mkdir()
    log = str(logs / "app.log")
    with open(log, "w") as fh:
        fh.writelines(line(i) for i in range(300))
    with stepped_holder(log, logs, batch_lines=100) as h:
        h.f.emit = lambda chunk: None  # the output down: nothing delivered, nothing saved
        h.scan_and_read()
        with open(log, "a") as fh:
            fh.writelines(line(i) for i in range(300, 500))  # unread
        t = h.f.tailer
        t.know_unread_at_stop()
        f = next(iter(t.files.values()))
        t.bury_let_go(t.ledger.let_go([(f.fh.fd, f.family, f.read_upto())], "the agent stopped"))  # names nothing
        size = os.stat(log).st_size
        os.unlink(log)  # a rotation past the backups during the stop
        saved = t.unsaved_states({})
    assert [(v["offset"], v["size"], v["gone"]) for v in saved.values()] == [(0, size, 0.0)], saved
    f2 = Follower([log], logs)
    f2.state = saved
    f2.restart()
    with caplog.at_level(logging.WARNING, logger="shipper.tail"):
        f2.settle()
    named = [(r.bytes_lost, r.size_known) for r in caplog.records  # type: ignore[attr-defined]
             if r.getMessage().startswith("data lost")]
    assert named == [(size, False)] or named == [(size, True)], named
