"""A live file renamed out of the source's paths while the agent was stopped (`*.log` over c.log, renamed c.old in
the same folder), written to after its last read: the next start finds it there (stat, no read needed), so the
size of what it lost is known, at least as it is now. Examiner exam13 (session 20, noticed): read to its end at the
stop, it was named "an unknown number of bytes" with bytes_lost=0 though 2,300 bytes of c.old were unread. Read in
part (a kill -9 after the first batch was delivered), it was named by its size at the last read, as an exact size:
what was written to it after that was lost with no word. Named now by its size where it is, "or more" (the writer
may still write to it there, unfollowed)."""
from __future__ import annotations

import logging
import os
import re

import pytest

from shipper.tail import scan_rules
from tests.tail.conftest import Follower
from tests.tail.test_files import write


@pytest.fixture(autouse=True)
def fast_missing(monkeypatch):
    monkeypatch.setattr(scan_rules, "MISSING_SECONDS", 0.0)


class KilledAfterFirstBatch(Follower):
    """A follower that commits the first batch of lines of a read, then nothing more while `killed` (a kill -9
    after that batch's delivery): its state is saved at offset < size."""

    killed = False
    batches = 0

    def emit(self, chunk) -> None:
        if self.killed and chunk.records:
            self.batches += 1
            if self.batches > 1:
                return
        super().emit(chunk)


def losses(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith("data lost")]


def test_read_to_its_end_renamed_out_while_stopped_names_what_was_written_since(tmp_path, caplog):
    d = tmp_path / "logs"
    d.mkdir()
    live = d / "c.log"
    write(live, *[f"line {i}" for i in range(100)])
    f = Follower([d / "*.log"], d)
    f.poll()
    assert len(f.lines()) == 100
    f.tailer.close()  # the stop: read to its end, all of it delivered
    before = live.stat().st_size
    write(live, *[f"later {i}" for i in range(250)])
    unread = live.stat().st_size - before
    os.rename(live, d / "c.old")
    f.restart()
    with caplog.at_level(logging.WARNING, logger="shipper.tail"):
        f.settle()
    assert len(f.lines()) == 100  # c.old is out of the paths: not read
    assert losses(caplog) and re.match(rf"data lost: {unread} bytes or more of {live} .*c\.old", losses(caplog)[0]), \
        losses(caplog)
    assert len(losses(caplog)) == 1 and f.lost == unread


def test_read_in_part_renamed_out_while_stopped_names_it_by_its_size_there(tmp_path, caplog):
    d = tmp_path / "logs"
    d.mkdir()
    live = d / "c.log"
    write(live, *[f"line {i}" for i in range(3000)])
    f = KilledAfterFirstBatch([d / "*.log"], d, batch_lines=1000)
    f.killed = True
    f.poll()
    assert len(f.lines()) == 1000
    f.tailer.close()  # a kill -9: the first batch delivered, the rest of the read not
    saved = [v for v in f.state.values() if isinstance(v, dict) and v.get("head_len")]
    assert [(v["offset"] < v["size"]) for v in saved] == [True], saved
    write(live, *[f"later {i}" for i in range(250)])
    unread = live.stat().st_size - saved[0]["offset"]
    os.rename(live, d / "c.old")
    f.killed = False
    f.restart()
    with caplog.at_level(logging.WARNING, logger="shipper.tail"):
        f.settle()
    assert len(f.lines()) == 1000
    assert losses(caplog) and re.match(rf"data lost: {unread} bytes or more of {live} .*c\.old", losses(caplog)[0]), \
        losses(caplog)
    assert len(losses(caplog)) == 1 and f.lost == unread
