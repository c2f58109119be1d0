"""A file only the holder of rotated files had met, when the agent is killed (kill -9: no stop names what it holds),
deleted before the next start: named lost at that start, from the entries the holder's record keeps in the source's
checkpoint (shipper/tail/held_record.py), saved through the checkpoint writer as states are — never written by the
agent's own threads (a frozen state_dir must not hold its stop: session 23's journal did). Torture seeds 193103,
194085, 194147 and 194217, exam21's 207137 and 209149.

Real files, renames and deletions, the real holder on inotify (stepped as the torture harness steps it: its thread
takes its turn when the test says, and the saver's note lands in the follower's store after it), the real tailer;
the kill is the holder's descriptors closed with no stop, and a new tailer from the committed checkpoint."""
from __future__ import annotations

import gzip
import logging
import os
import shutil
import threading
from pathlib import Path

import pytest

from shipper.tail.held_record import HELD_PREFIX, HeldRecord
from shipper.tail.holder import Holder
from tests.support import wait
from tests.tail.conftest import Follower
from tests.torture.harness import SteppedHolder

HEADER = b"# time level message (a header every file shares)\n"


class Agent:
    """The tailer and the holder as the file source runs them, killed and started again from the checkpoint."""

    def __init__(self, folder: str):
        self.folder = folder
        self.live = os.path.join(folder, "app.log")
        self.f = Follower([self.live], folder)
        self.held = self._holder()

    def _holder(self) -> SteppedHolder:
        held = SteppedHolder(self.live, self.folder, 256, self.f)
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
    a = Agent(str(folder))
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
    a = Agent(str(folder))
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


def held_keys(state: dict) -> list[str]:
    return sorted(k for k in state if k.startswith(HELD_PREFIX))


def test_the_entries_go_with_the_checkpoint_and_the_start_keeps_none_of_the_run_before(agent):
    """Saved when held (the saver's note), deleted with the state of the file the tailer takes (the same batch), and
    the start after a kill deletes every entry the run before left once it named what it had to: the checkpoint keeps
    at most what the holder holds now."""
    rotate_unseen(agent, 3, 4)
    paths = {agent.f.state[k]["path"] for k in held_keys(agent.f.state)}
    assert paths == {agent.live + ".1", agent.live}  # (and the writer's new file, made since the last scan)
    agent.scan_and_read()  # (the tailer takes it: its state says the rest)
    assert held_keys(agent.f.state) == []
    assert any(v.get("path") == agent.live + ".1" for k, v in agent.f.state.items() if k.startswith("f:"))
    rotate_unseen(agent, 7, 2)
    assert held_keys(agent.f.state)
    agent.kill()
    agent.start()
    assert held_keys(agent.f.state) == []


def test_a_damaged_entry_is_dropped_without_a_word_of_loss(agent, caplog):
    """Bad input in the checkpoint (an entry of another layout, damaged) never stops the start: it is deleted."""
    agent.f.state[HELD_PREFIX + "1:2"] = {"dev": "x", "ino": None, "length": "many"}
    agent.f.state[HELD_PREFIX + "1:3"] = {"dev": 1, "ino": 3, "family": agent.live, "path": agent.live + ".9",
                                          "length": [1], "head": 7}
    agent.kill()
    caplog.clear()
    agent.start()
    assert held_keys(agent.f.state) == []
    assert not [m for m in warnings(caplog) if "held open" in m], warnings(caplog)


def test_a_stop_deletes_the_entries_it_named():
    """A stop names what the holder held (its let-go): the tailer's last flush deletes their entries, else the next
    start would name them again."""
    record = HeldRecord()
    record.held((1, 5), {"dev": 1, "ino": 5})
    record.held((1, 6), {"dev": 1, "ino": 6})
    assert sorted(record.take_changes()) == [HELD_PREFIX + "1:5", HELD_PREFIX + "1:6"]
    record.let_go((1, 5))
    record.let_go((1, 6))
    assert record.take_changes() == {HELD_PREFIX + "1:5": None, HELD_PREFIX + "1:6": None}
    assert record.take_changes() == {}


def test_a_file_taken_before_any_save_is_never_written():
    """When the tailer keeps up it takes a held file before the saver looks (HeldSaver.GATHER): nothing to save, nothing
    to delete — the checkpoint is not written for it at all."""
    record = HeldRecord()
    record.held((1, 5), {"dev": 1, "ino": 5})
    record.let_go((1, 5))
    assert record.take_new() == {}
    assert record.take_changes() == {}


def test_a_deletion_waits_for_the_saver_note_in_flight():
    """The saver took an entry and its note has not returned when the tailer takes the file: the deletion waits for
    the note (sent first, the note would land after it and leave an entry of a file read)."""
    record = HeldRecord()
    record.held((1, 5), {"dev": 1, "ino": 5})
    noting = record.take_new()
    record.let_go((1, 5))
    assert record.take_changes() == {}
    record.saved(set(noting))
    assert record.take_changes() == {HELD_PREFIX + "1:5": None}


def watching_holder(tmp_path) -> tuple[Holder, Path, Path]:
    """The real holder on its own thread (not stepped), watching logs/app.log (3 lines): (holder, folder, live)."""
    folder = tmp_path / "logs"
    folder.mkdir()
    live = folder / "app.log"
    live.write_bytes(lines(0, 3))
    holder = Holder(256)
    assert holder.start()
    holder.watch_more({str(live)}, {str(folder)}, lambda p: p == str(live))
    return holder, folder, live


def test_the_saver_notes_what_the_holder_holds_while_the_tailer_lags(tmp_path):
    """The holder's own thread (not stepped), a tailer that takes nothing (held back: an output down): the saver notes
    the held file's entry through the source's `note` (the checkpoint writer), from a thread of its own."""
    holder, folder, live = watching_holder(tmp_path)
    noted: list[dict] = []
    threads: set[str] = set()

    def note(fragment: dict) -> None:
        threads.add(threading.current_thread().name)
        noted.append(fragment)

    holder.saver.note = note
    try:
        os.rename(live, str(live) + ".1")
        live.write_bytes(b"")
        assert wait(lambda: noted, timeout=30), "the held file's entry was never noted"
        entries = [e for f in noted for e in f.values()]
        assert {e["path"] for e in entries} >= {str(live) + ".1"}
        assert threads == {"shipper-held-saver"}
    finally:
        holder.stop()


def test_a_note_that_never_returns_holds_neither_the_holder_nor_its_stop(tmp_path):
    """The saver's note waits on the checkpoint writer (a frozen state_dir: the store answers only at the thaw, or
    gives up at the stop's end): the holder goes on holding and its stop returns at once; only the saver's own thread
    (a daemon) waits."""
    holder, folder, live = watching_holder(tmp_path)
    thaw = threading.Event()
    calls: list[dict] = []

    def frozen_note(fragment: dict) -> None:
        calls.append(fragment)
        thaw.wait()

    holder.saver.note = frozen_note
    try:
        for i in (1, 2):  # a rotation, then a copy (a new file) while the first note is stuck
            if i == 1:
                os.rename(live, f"{live}.{i}")
                live.write_bytes(lines(10, 2))
            else:
                shutil.copyfile(live, f"{live}.{i}")
            ino = os.stat(f"{live}.{i}").st_ino
            assert wait(lambda ino=ino: any(h.ino == ino for h in list(holder.held.values())), timeout=30), \
                f"app.log.{i} not held while the saver's note is stuck"
            assert wait(lambda: calls, timeout=30)
        t0 = threading.Event()
        stopper = threading.Thread(target=lambda: (holder.stop(), t0.set()), daemon=True)
        stopper.start()
        assert t0.wait(30), "the holder's stop waited for the saver's note"
        assert not holder.held
    finally:
        thaw.set()
        holder.stop()


def test_shipper_status_counts_the_entries_instead_of_printing_them():
    """`shipper status` (Source.saved_notes) says how many files were held unread, not each entry's fingerprint."""
    from plugins.sources.file import FileSource
    notes = FileSource.saved_notes({f"{HELD_PREFIX}1:2": {"dev": 1, "ino": 2, "marks": [[10, "ab"]]},
                                    f"{HELD_PREFIX}1:3": {"dev": 1, "ino": 3}})
    assert notes == ["2 rotated file(s) held unread when the agent last ran (named lost at the next start if deleted "
                     "meanwhile)"]
