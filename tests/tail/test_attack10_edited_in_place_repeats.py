"""Black-box attack 10 (operator): a live log edited in place — `sed -i '/secret/d' app.log` to scrub a leaked
password (or an editor that saves by writing a new file and renaming it over the old). sed writes the edited
content to a new file and renames it over `app.log`; the writer keeps appending to its open descriptor (the old,
now deleted inode).

Found (by hand 3 of 3, with `paths: [app.log]` and with a glob, and with this test): the new file at the live name
is read from its start as a new file: the 999 lines it holds, every one already delivered, are shipped a second
time, and nothing says so (no warning at all). What held: the lines the writer appends afterwards to its
deleted file are read through the descriptor the agent holds, once.

Promised (README): "without losing or repeating a line across rotations and restarts"; DEVELOPERS.md: nothing
repeated silently. The new file holds nothing but bytes already read (the old content less one line).

Fixed: the agent still holds the replaced file open (deleted); a new file at the live name holding its head and the
bytes before the read offset (shifted by the edit, found once) is that file edited (shipper/tail/edits.py): it is read
on from where what was read ends in it, and one warning names what the edit changed (lines removed, altered, added).
A new file that shares only a header with the one it replaced is read whole, as before (docs/design.md)."""
from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.tail.attack_agent import Agent, exactly_once, numbered


def edited_while_written(tmp_path, edit: Callable[[Path], None], more: int) -> Agent:
    """The phases of an edit under a live writer: a writer that keeps app.log open (as a logging library does)
    writes lines 0-999 and the agent delivers them; `edit(log)` edits the file; the writer appends lines 1000 to
    1000 + more to its descriptor (the old inode, deleted, after a rename over it; the same inode after a write-back)
    and the agent delivers those too. Returns the agent, stopped, to be counted line by line."""
    log = tmp_path / "app.log"
    with open(log, "a", buffering=1) as writer:
        writer.write("".join(numbered(i) for i in range(1000)))
        agent = Agent(tmp_path, [log])
        agent.start()
        try:
            assert agent.wait_delivered(range(1000), 60), exactly_once(agent.seqs(), range(1000))
            edit(log)
            writer.write("".join(numbered(i) for i in range(1000, 1000 + more)))
            assert agent.wait_delivered(range(1000 + more), 60), exactly_once(agent.seqs(), range(1000 + more))
            agent.get("/status")  # one more round trip: repeats written right after the last new line show too
        finally:
            agent.stop()
    return agent


def sed_i(script: str) -> Callable[[Path], None]:
    """`sed -i script` on the log (a new file renamed over it), checked to have changed it."""
    def edit(log: Path) -> None:
        before = log.read_text()
        subprocess.run(["sed", "-i", script, str(log)], check=True)
        assert log.read_text() != before
    return edit


@pytest.mark.parametrize("edit, says", [
    ('/"seq": 500,/d', "1 line(s) removed"),
    ('s/"seq": 50\\(.\\),/"seq": 50\\1, "scrubbed": 1,/', "10 line(s) altered"),
    ('/"seq": 2,/d', "1 line(s) removed"),  # near its start, in its first KiB
], ids=["line-removed", "lines-altered", "second-line-removed"])
def test_a_live_log_edited_in_place_is_not_shipped_again(tmp_path, edit, says):
    agent = edited_while_written(tmp_path, sed_i(edit), 500)
    wrong = exactly_once(agent.seqs(), range(1500))
    assert not wrong, f"{wrong}; journal: {agent.errors()[-500:]}"
    journal = agent.errors()
    assert journal.count("was replaced by an edited copy") == 1, journal[-1000:]
    assert says in journal, journal[-1000:]
    assert "data lost" not in journal, journal[-1000:]


def test_an_edited_copy_written_on_by_a_writer_that_reopens_is_read_on_from_the_edit(tmp_path):
    """A writer that opens the file for each write (`>>` in a shell) writes after the edit into the new file: those
    lines are read once, and nothing before them again."""
    log = tmp_path / "app.log"
    log.write_text("".join(numbered(i) for i in range(1000)))
    agent = Agent(tmp_path, [log])
    agent.start()
    try:
        assert agent.wait_delivered(range(1000), 60), exactly_once(agent.seqs(), range(1000))
        subprocess.run(["sed", "-i", '/"seq": 700,/d', str(log)], check=True)
        with open(log, "a") as f:
            f.write("".join(numbered(i) for i in range(1000, 1200)))
        assert agent.wait_delivered(set(range(1200)) - {700}, 60), exactly_once(agent.seqs(), range(1200))
        agent.get("/status")
    finally:
        agent.stop()
    wrong = exactly_once(agent.seqs(), range(1200))
    assert not wrong, f"{wrong}; journal: {agent.errors()[-500:]}"
    assert "1 line(s) removed" in agent.errors(), agent.errors()[-1000:]


def test_a_new_file_sharing_only_a_header_with_the_one_it_replaced_is_read_whole(tmp_path):
    """The shared-header rule holds at the live name: a file renamed over the live one that starts with the same
    header line but holds other lines is a new file, read from its start, with no word of an edit."""
    log = tmp_path / "app.log"
    header = "# app audit log v1\n"
    log.write_text(header + "".join(numbered(i) for i in range(500)))
    agent = Agent(tmp_path, [log])
    agent.start()
    try:
        assert agent.wait_delivered(range(500), 60), exactly_once(agent.seqs(), range(500))
        new = tmp_path / "app.log.new"
        new.write_text(header + "".join(numbered(i) for i in range(500, 800)))
        new.rename(log)
        assert agent.wait_delivered(range(800), 60), exactly_once(agent.seqs(), range(800))
        agent.get("/status")
    finally:
        agent.stop()
    seqs = agent.seqs()
    assert seqs.count(None) == 2, seqs.count(None)  # the header line of each file
    wrong = exactly_once([s for s in seqs if s is not None], range(800))
    assert not wrong, f"{wrong}; journal: {agent.errors()[-500:]}"
    assert "edited copy" not in agent.errors() and "shipped again" not in agent.errors(), agent.errors()[-1000:]


def test_an_edit_of_the_last_lines_read_cannot_be_placed_and_the_repeat_is_warned(tmp_path):
    """The last line read removed: the bytes before the read offset are nowhere in the new file, so where what was
    read ends in it cannot be proven. It is read from its start (nothing unread may be skipped), and the repeat is
    warned with the file and the bytes shipped again."""
    sizes = []

    def delete_the_last_line(log: Path) -> None:
        sed_i("$d")(log)
        sizes.append(log.stat().st_size)

    agent = edited_while_written(tmp_path, delete_the_last_line, 100)
    seqs = agent.seqs()
    assert sorted(seqs) == sorted(list(range(1100)) + list(range(999))), exactly_once(seqs, range(1100))
    journal = agent.errors()
    assert journal.count(f"begins with the first {sizes[0]} bytes (whole lines) of what was read") == 1, journal[-1000:]
    assert "shipped again" in journal and "replaced by an edited copy" not in journal, journal[-1000:]


@pytest.mark.parametrize("line, to", [(500, ""), (700, numbered(700).replace("xxxx", "*"))],
                         ids=["line-removed", "line-altered"])
def test_a_live_log_written_back_in_place_is_not_shipped_again(tmp_path, line, to):
    """The same edit by an editor that writes back into the same file (vim's `backupcopy=yes`, nano): seek to 0,
    truncate, write the text less one line. Found (by hand 2 of 2, and with this test): the 499 lines after the
    removed one were shipped a second time, without a word. Fixed: the file, cut back to what was read up to the
    change and written past it, holds the bytes before the read offset once further on (compared with the window
    of what was read): read on from there, the edit warned. (An edit that keeps every byte's place — a line
    altered to one of the same length — shows in nothing the agent compares: nothing is repeated, and it is not
    named.)"""
    def write_back(log: Path) -> None:  # (the writer's O_APPEND writes go after the edited text)
        text = log.read_text().replace(numbered(line), to)
        with open(log, "r+") as editor:
            editor.seek(0)
            editor.truncate()
            editor.write(text)

    agent = edited_while_written(tmp_path, write_back, 500)
    wrong = exactly_once(agent.seqs(), range(1500))
    assert not wrong, f"{wrong}; journal: {agent.errors()[-500:]}"
    journal = agent.errors()
    assert journal.count("was written back in place edited") == 1, journal[-1000:]
    assert ("1 line(s) removed" if not to else "1 line(s) altered") in journal, journal[-1000:]
    assert "data lost" not in journal, journal[-1000:]
