"""A live log edited in place where nothing of what was read is kept to compare: while the agent is stopped (a
restart keeps only hashes of what was read: the head, the 256 bytes before the read offset, earlier read positions),
or further back than the last 64 KiB read (the window kept in memory). Real files, the real agent, a real stop and
start, every line counted.

Found (session 12's report, confirmed here with these tests on main): each of these was read again from its start
(every line already delivered shipped a second time) and the content called lost ("data lost: … truncated in place
and written again while the agent was away"), or read again with nothing but an info line. Now: where what was read
ends is proven by the hash of the bytes before the read offset, found at one line end (past the unchanged head; or
shifted by whole blocks, its head cut by collapse-range), and the file is read on from there, the edit warned; when
it cannot be proven, the file is read again from its start and the repeat is named (a warning "re-read N bytes of
<file>: its content before offset X changed", `shipper_bytes_read_again`), never silent."""
from __future__ import annotations

import re
import subprocess
import urllib.request
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.fs_faults import ext4_folder
from tests.tail.attack_agent import Agent, append_numbered, exactly_once, numbered

pytestmark = pytest.mark.slow  # (tens of seconds: `make test` hands it out with the slow files, early)


def read_again_counted(agent: Agent) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{agent.port}/metrics", timeout=10) as r:
        text = r.read().decode()
    m = re.search(r'^shipper_bytes_read_again_total\{source="app"\} ([0-9.e+]+)$', text, re.M)
    return float(m.group(1)) if m else 0.0


def edited_while_stopped(folder: Path, tmp_path: Path, edit: Callable[[Path], None], lines: int = 1000,
                         more: int = 500) -> tuple[Agent, float]:
    """Lines 0..lines-1 delivered; the agent stopped; `edit(log)`; the writer (reopening its file, as `>>` does)
    appends lines..lines+more-1; the agent started again until those are delivered. The stopped agent and the bytes
    its second run counted as read again."""
    log = folder / "app.log"
    append_numbered(log, 0, lines)
    agent = Agent(tmp_path, [log])
    agent.start()
    try:
        assert agent.wait_delivered(range(lines), 60), exactly_once(agent.seqs(), range(lines))
    finally:
        agent.stop()
    edit(log)
    append_numbered(log, lines, lines + more)
    agent.start()
    try:
        assert agent.wait_delivered(range(lines + more), 60), exactly_once(agent.seqs(), range(lines + more))
        agent.get("/status")  # one more round trip: repeats written right after the last new line show too
        again = read_again_counted(agent)
    finally:
        agent.stop()
    return agent, again


def without(line: int) -> Callable[[Path], None]:
    """An editor's write-back (vim `backupcopy=yes`, nano): the same file truncated and written again, less a line."""
    def write_back(log: Path) -> None:
        text = log.read_text()
        assert numbered(line) in text
        with open(log, "r+") as editor:
            editor.seek(0)
            editor.truncate()
            editor.write(text.replace(numbered(line), ""))
    return write_back


def sed_i(script: str) -> Callable[[Path], None]:
    def edit(log: Path) -> None:
        ino = log.stat().st_ino
        subprocess.run(["sed", "-i", script, str(log)], check=True)
        assert log.stat().st_ino != ino  # (a new file renamed over it)
    return edit


@pytest.mark.parametrize("edit, says", [
    (without(500), "was edited in place while the agent was stopped"),
    (sed_i('/"seq": 500,/d'), "was replaced by an edited copy of the file it replaced (`sed -i`, or an editor saving "
                              "by rename) while the agent was stopped"),
], ids=["written-back", "sed-i"])
def test_an_edit_while_stopped_is_read_on_from_where_what_was_read_ends(tmp_path, edit, says):
    agent, again = edited_while_stopped(tmp_path, tmp_path, edit)
    wrong = exactly_once(agent.seqs(), range(1500))
    assert not wrong, f"{wrong}; journal: {agent.errors()[-1500:]}"
    journal = agent.errors()
    assert journal.count(says) == 1, journal[-1500:]
    assert "data lost" not in journal and "re-read" not in journal and again == 0, journal[-1500:]


def test_a_head_cut_while_stopped_is_read_on_from_where_what_was_read_ends(tmp_path):
    """`fallocate --collapse-range` while the agent is stopped: the file's first blocks, header and all, gone; what was
    read is still in it, some whole blocks nearer its start."""
    with ext4_folder(tmp_path) as disk:
        agent, again = edited_while_stopped(
            disk, tmp_path, lambda log: subprocess.run(["fallocate", "--collapse-range", "-o", "0", "-l", "8192",
                                                        str(log)], check=True))
    seqs = agent.seqs()
    wrong = exactly_once(seqs, range(1500))
    assert not wrong, f"{wrong}; journal: {agent.errors()[-1500:]}"
    journal = agent.errors()
    assert journal.count("was edited in place while the agent was stopped") == 1, journal[-1500:]
    assert "data lost" not in journal and again == 0, journal[-1500:]


def test_an_edit_of_the_last_lines_read_while_stopped_is_read_again_and_named(tmp_path):
    """The last line read removed while the agent is stopped: the bytes before the read offset are nowhere in the file,
    so where what was read ends cannot be proven. Nothing unread may be skipped: it is read again from its start, and
    the repeat is named with its size and counted."""
    agent, again = edited_while_stopped(tmp_path, tmp_path, without(999))
    read_before = sum(len(numbered(i)) for i in range(1000))  # (bytes 0 to there are read a second time)
    counts = Counter(agent.seqs())
    assert {i for i in range(999) if counts[i] != 2} == set(), "lines 0-998: read, then read again once"
    assert counts[999] == 1 and all(counts[i] == 1 for i in range(1000, 1500)), exactly_once(agent.seqs(), range(1500))
    journal = agent.errors()
    expected = f"re-read {read_before} bytes of {tmp_path / 'app.log'}: its content before offset"
    assert journal.count(expected) == 1, journal[-1500:]
    assert again == read_before
    assert "data lost" not in journal, journal[-1500:]


def test_a_write_back_further_back_than_the_window_is_read_on_from_where_what_was_read_ends(tmp_path):
    """While the agent runs: an editor writes back a log of 160 KB with its tenth line removed, further back than the
    64 KiB window of what was read kept in memory. (Before: read again from its start, 3,990 lines shipped twice,
    said in an info line.)"""
    log = tmp_path / "app.log"
    append_numbered(log, 0, 4000)
    agent = Agent(tmp_path, [log])
    agent.start()
    try:
        assert agent.wait_delivered(range(4000), 60), exactly_once(agent.seqs(), range(4000))
        assert log.stat().st_size > 128 * 1024
        without(10)(log)
        append_numbered(log, 4000, 4100)
        assert agent.wait_delivered(range(4100), 60), exactly_once(agent.seqs(), range(4100))
        agent.get("/status")
        again = read_again_counted(agent)
    finally:
        agent.stop()
    wrong = exactly_once(agent.seqs(), range(4100))
    assert not wrong, f"{wrong}; journal: {agent.errors()[-1500:]}"
    journal = agent.errors()
    assert journal.count("was edited in place further back than the last") == 1, journal[-1500:]
    assert "data lost" not in journal and again == 0, journal[-1500:]
