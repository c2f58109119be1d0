"""The `.gz` of a one-line file the tailer read through its descriptor after the file was rotated away is that file's
copy, not a new file: its line is all of the file, and a first line no other content of the family has proves it
(Matcher.head_unique). Two ways it was read again from 0 as a new file, its line twice (torture, `--overtaken`):
- the deleted file was closed over the descriptor budget, and what was read of it proved a copy only when it was more
  than its first line (seeds 186049 and 182061: silently);
- the writer's next file, whose first line tells the family's files apart, was identified only after the deleted file
  was compared with the `.gz`, in the same loop: the head was taken for one the family's files share, the wait ran out
  and the `.gz` was read as "could not tell whether … is a copy" (seed 185011: warned, but no kill -9 in the schedule).
"""
from __future__ import annotations

import gzip
import logging
import os
import shutil

from shipper.tail import clock, scan_rules
from tests.tail.conftest import Follower
from tests.tail.test_files import write


class SteppedClock:
    """The tailer's clocks (shipper/tail/clock.py), moved only by the test: the wait runs out exactly when it says."""

    def __init__(self) -> None:
        self.mono, self.wall_ns = 1000.0, clock.wall_ns()

    def monotonic(self) -> float:
        return self.mono

    def time(self) -> float:
        return self.wall_ns / 1e9

    def time_ns(self) -> int:
        return self.wall_ns

    def advance(self, seconds: float) -> None:
        self.mono += seconds
        self.wall_ns += int(seconds * 1e9)


def _one_line_rotated_away_unseen(log, f: Follower) -> None:
    """The live file, followed empty and open, is listed by a scan; then its one line is written and it rotates away
    (logrotate `create` + `compress`: renamed, the writer's next file made, the .gz made, the plain file deleted)
    before the read, which reads the line through the descriptor."""
    f.tailer.scan()
    write(log, "seq 0")
    os.rename(log, f"{log}.1")
    open(log, "wb").close()
    with open(f"{log}.1", "rb") as src, gzip.open(f"{log}.1.gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    os.unlink(f"{log}.1")
    f.tailer.read_all(f.emit, f.stop)
    assert f.lines() == [b"seq 0"]


def test_the_gz_of_a_one_line_file_closed_over_the_budget_is_not_read_again(tmp_path):
    d = tmp_path / "logs"
    d.mkdir()
    log = d / "app.log"
    log.touch()
    f = Follower([log], d, max_open=1)
    try:
        f.poll()
        _one_line_rotated_away_unseen(log, f)
        write(log, "seq 1", "seq 2")  # the writer's next file, opened by the next scan: the deleted one is closed
        f.poll(3)
        assert not any(x.fh is not None and x.deleted for x in f.tailer.files.values())  # (the case: closed)
        assert f.lines() == [b"seq 0", b"seq 1", b"seq 2"]
    finally:
        f.tailer.close()


def test_the_gz_of_a_one_line_file_is_told_by_the_next_files_first_line(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(scan_rules, "UNDECIDED_SECONDS", 0.2)  # (as the torture harness: shorter than DELETED_GRACE)
    stepped = SteppedClock()
    real = clock.use(stepped)
    d = tmp_path / "logs"
    d.mkdir()
    log = d / "app.log"
    log.touch()
    f = Follower([log], d)
    try:
        f.poll()
        _one_line_rotated_away_unseen(log, f)
        f.poll()  # the .gz: nothing tells yet whether its first line is a header every file of the family has
        assert len(f.tailer.undecided) == 1
        write(log, "seq 1", "seq 2")  # the writer's next file starts otherwise: the first line was an event
        stepped.advance(0.3)  # (the wait is over; the deleted file, open, is still followed: DELETED_GRACE 2 s)
        with caplog.at_level(logging.WARNING, logger="shipper.tail"):
            f.poll(3)
        assert any(x.deleted for x in f.tailer.files.values())  # (the case: compared as a followed file)
        assert f.lines() == [b"seq 0", b"seq 1", b"seq 2"]
        assert not [r for r in caplog.records if "could not tell" in r.getMessage()]
    finally:
        clock.use(real)
        f.tailer.close()
