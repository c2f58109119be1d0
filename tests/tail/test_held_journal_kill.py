"""A file only the holder of rotated files had met, when the agent is killed (kill -9: no stop names what it holds),
deleted before the next start: named lost at that start, from the journal the holder keeps as it holds
(shipper/tail/held_journal.py). Torture seeds 193103, 194085, 194147 and 194217, exam21's 207137 and 209149.

Real files, renames and deletions, the real holder on inotify (stepped as the torture harness steps it: its thread
takes its turn when the test says), the real tailer; the kill is the holder's descriptors closed with no stop, and a
new tailer from the committed checkpoint."""
from __future__ import annotations

import gzip
import logging
import os
import shutil

import pytest

from tests.tail.conftest import Follower
from tests.torture.harness import SteppedHolder

HEADER = b"# time level message (a header every file shares)\n"


class Agent:
    """The tailer and the holder as the file source runs them, killed and started again from the checkpoint."""

    def __init__(self, folder: str, journal: str):
        self.folder, self.journal = folder, journal
        self.live = os.path.join(folder, "app.log")
        self.f = Follower([self.live], folder)
        self.held = self._holder()

    def _holder(self) -> SteppedHolder:
        held = SteppedHolder(self.live, self.folder, 256, self.journal)
        self.f.tailer.holder = held.holder
        return held

    def scan_and_read(self) -> None:
        t = self.f.tailer
        t.scan()
        self.held.followed(t)
        t.read_all(self.f.emit, self.f.stop)

    def kill(self) -> None:
        """kill -9: the holder's descriptors close with the process, nothing is named; then a start."""
        self.held.stop()
        self.f.restart()

    def start(self) -> None:
        self.held = self._holder()
        self.scan_and_read()

    def close(self) -> None:
        self.held.stop()
        self.f.tailer.close()


def lines(first: int, n: int) -> bytes:
    return b"".join(b"seq %d %s\n" % (i, b"x" * (i % 13)) for i in range(first, first + n))


@pytest.fixture
def agent(tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="shipper.tail")
    folder = tmp_path / "logs"
    folder.mkdir()
    (folder / "app.log").write_bytes(lines(0, 3))
    a = Agent(str(folder), str(tmp_path / "state" / "held" / "files.jsonl"))
    a.scan_and_read()
    yield a
    a.close()


def warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def rotate_unseen(a: Agent, first: int, n: int) -> bytes:
    """The writer's next file gets `n` lines and is rotated to app.log.1 before the tailer scans again; the holder
    takes its turn and holds it (the tailer never met it)."""
    os.rename(a.live, a.live + ".0")  # (the file the tailer follows goes out of the way: no name of the family)
    data = lines(first, n)
    with open(a.live, "wb") as fh:
        fh.write(data)
    os.rename(a.live, a.live + ".1")
    open(a.live, "wb").close()
    a.held.step()
    assert any(h.path == a.live + ".1" for h in a.held.holder.held.values())
    return data


def test_a_held_file_deleted_after_a_kill_is_named_lost_at_the_start(agent, caplog):
    data = rotate_unseen(agent, 3, 4)
    agent.kill()
    os.unlink(agent.live + ".1")  # (a cleaner, while the agent is down)
    caplog.clear()
    agent.start()
    named = [m for m in warnings(caplog) if m.startswith("data lost") and "held open, unread" in m]
    assert named == [f"data lost: {len(data)} bytes or more of {agent.live} were in 1 rotated file(s) of it "
                     "(app.log.1) that the agent held open, unread, when it ended without a stop (killed, or "
                     "crashed), and that were deleted before this start"], warnings(caplog)
    assert agent.f.tailer.bytes_lost >= len(data)


def test_a_held_file_still_there_after_a_kill_is_read_not_named(agent, caplog):
    data = rotate_unseen(agent, 3, 4)
    agent.kill()
    caplog.clear()
    agent.start()
    agent.scan_and_read()
    assert not [m for m in warnings(caplog) if "held open" in m]
    got = agent.f.lines()
    for line in lines(0, 3).splitlines() + data.splitlines():
        assert got.count(line) == 1


def test_the_gz_of_a_file_read_whole_held_at_a_kill_and_deleted_names_nothing(agent, caplog):
    """The holder holds the .gz a `compress` rotation made of a file the tailer had read to its end: deleted after the
    kill, it held nothing unread (its marks prove it the read content's copy): no loss, not even a possible one."""
    rotated = agent.live + ".1"
    os.rename(agent.live, rotated)
    open(agent.live, "wb").close()
    with open(rotated, "rb") as src, gzip.open(rotated + ".gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    os.unlink(rotated)
    agent.held.step()
    assert any(h.path == rotated + ".gz" for h in agent.held.holder.held.values())
    agent.kill()
    os.unlink(rotated + ".gz")
    caplog.clear()
    agent.start()
    assert not [m for m in warnings(caplog) if "held open" in m], warnings(caplog)


def test_a_held_copy_names_what_lies_past_what_was_read_of_its_origin(tmp_path, caplog):
    """Every file starts with the same header; the held file is a copytruncate's copy of the live file, which the
    tailer had read in part. Deleted after the kill, what it held past the furthest read of any content with its
    head (here the live file's) was read nowhere: named lost, "or more"; what lies before may be lines read from
    that content, and is not named."""
    caplog.set_level(logging.WARNING, logger="shipper.tail")
    folder = tmp_path / "logs"
    folder.mkdir()
    live = folder / "app.log"
    live.write_bytes(HEADER + lines(0, 3))
    a = Agent(str(folder), str(tmp_path / "held.jsonl"))
    try:
        a.scan_and_read()
        with open(live, "ab") as fh:
            fh.write(lines(3, 2))
        shutil.copyfile(live, str(live) + ".1")  # a copytruncate's copy: its lines past offset 3 lines were not read
        os.truncate(live, 0)
        a.held.step()
        a.kill()
        os.unlink(str(live) + ".1")
        caplog.clear()
        a.start()
        named = [m for m in warnings(caplog) if "held open, unread" in m]
        unread = len(lines(3, 2))
        assert named and named[0].startswith(f"data lost: {unread} bytes or more of {live} "), warnings(caplog)
    finally:
        a.close()
