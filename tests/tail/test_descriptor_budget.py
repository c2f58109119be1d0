"""The tailer's descriptor budget (`max_open`) closes the longest-idle files it has open; a closed file
is found again by its name at the next scan. One renamed since the last scan (a rotation) is in no
name the tailer knows: closed, and deleted by the next rotation before that scan, it was out of reach —
the line written just before the rename lost, or, read to its end, a false "rotated away before the
rest could be read" loss (tests/tail/test_attack5_descriptor_limit_false_loss.py: 3,000 files under a
1,024-descriptor limit; the holder leaves alone a file the tailer has open when it is renamed)."""
from __future__ import annotations

import functools
import json
import logging
import os

import pytest

from tests.tail.conftest import Follower, assert_exactly_once
from tests.tail.test_followed_renamed_during_scan import followed_with_lines_unread, rollover
from tests.tail.test_overtaken_scan import overtake


@pytest.mark.parametrize("written_before_rename", [True, False])
def test_a_file_renamed_since_the_last_scan_is_not_closed_over_the_budget(tmp_path, written_before_rename):
    d = tmp_path / "logs"
    d.mkdir()
    n = 0

    def write(name: str) -> None:
        nonlocal n
        with open(d / name, "ab") as f:
            f.write(json.dumps({"seq": n, "msg": "x" * 20}).encode() + b"\n")
        n += 1

    write("r.log")  # the rotating log
    write("s.log")
    f = Follower([d / "*.log"], d, max_open=2)
    try:
        f.poll()
        write("s.log")
        f.tailer.read_changed([str(d / "s.log")], f.emit, f.stop)  # r.log is now the longest idle
        assert len(f.tailer.known_open()) == 2
        write("t.log")  # a new file: opening it takes a descriptor of the budget
        observe = f.tailer.prospector.observe

        def observe_then_rotate():
            obs = observe()
            observe_then_rotate.done = True
            f.tailer.prospector.observe = observe
            if written_before_rename:
                write("r.log")
            os.rename(d / "r.log", d / "r.log.1")  # after the listing: the tailer has not seen it
            write("r.log")
            return obs

        f.tailer.prospector.observe = observe_then_rotate
        f.poll()  # t.log is opened: one of the two open files is closed
        os.rename(d / "r.log", d / "r.log.1")  # the next rotation deletes the renamed file
        write("r.log")
        f.settle()
        assert getattr(observe_then_rotate, "done", False)
        assert_exactly_once(f.seqs(), range(n))
        assert f.tailer.losses == 0
    finally:
        f.tailer.close()


def test_a_closed_file_cut_shorter_than_what_was_read_is_read_again(tmp_path):
    """Found by the torture harness with a descriptor budget (`make torture ARGS=--overtaken`, seed 22: 12
    lines never read): a followed file closed (over the budget, or idle) whose inode then held fewer
    bytes than were read of it — truncated in place and written again, or the inode given to a new
    file with the same header — was taken for the same content (same head; "shorter: truncated,
    detected when read"), but a closed file is read only once it is longer than what was read: its
    new lines waited, unread, until it outgrew the old offset or was rotated away."""
    d = tmp_path / "logs"
    d.mkdir()
    log = d / "app.log"
    header = b"# time level message (a header every file has)\n"
    lines = [json.dumps({"seq": i, "msg": "x" * 20}).encode() + b"\n" for i in range(12)]
    log.write_bytes(header + b"".join(lines[:10]))
    f = Follower([log], d, close_inactive=0.0)
    try:
        f.poll()
        f.tailer.close_idle()
        assert not f.tailer.known_open()
        with open(log, "r+b") as fh:  # copytruncate (its copy not kept), then the writer goes on
            fh.truncate(0)
            fh.write(header + b"".join(lines[10:]))
        f.settle()
        assert_exactly_once([s for s in (json.loads(x)["seq"] for x in f.lines() if not x.startswith(b"#"))],
                            range(12))
        # Read to its end before the truncation, but written to moments before it (attention.written_just_before: a
        # busy writer's lines after the last read went with the cut): a loss of unknown size, counted
        assert f.tailer.losses == 1
    finally:
        f.tailer.close()


def test_a_renamed_file_with_lines_unread_stays_open_past_the_budget(tmp_path, caplog):
    """Torture seed 182224 (`--overtaken`, a budget of 2): every file open had been renamed since the last scan (the
    rotation that overtook it), and a new one was to be opened. The budget closed one anyway ("only when nothing
    else can be closed"), with lines unread: in no name the tailer knew, it was deleted by the next rotation before
    any read, its lines gone without a word. Read to its end, such a file may be closed; with lines unread it stays
    open past the budget until it is read (the budget is half the descriptor limit: the rest is room for these)."""
    caplog.set_level(logging.WARNING, "shipper.tail")
    live = tmp_path / "app.log"
    rotate = functools.partial(rollover, live)
    f = Follower([live], tmp_path, max_open=1)
    try:
        followed_with_lines_unread(f, live)  # seq 2-3 rotated before a read
        rotate()
        live.write_bytes(b"seq 4 x\n")
        overtake(f, rotate)  # the followed file is app.log.2 now, the new file listed at app.log is app.log.1
        f.poll()  # the new file is opened: the budget is full, and its one open file was renamed since
        rotate()  # app.log.2 is deleted before the next scan
        f.poll(3)
        assert sorted(f.lines()) == [b"seq 0 x", b"seq 1 xx", b"seq 2 xxx", b"seq 3 xxxx", b"seq 4 x"]
        assert not [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    finally:
        f.tailer.close()
