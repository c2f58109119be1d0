"""Black-box attack 12 (operator): an editor that saves by writing back into the same file (vim `backupcopy=yes`,
truncate and rewrite) removes a line near the end of the live log, a few seconds after the agent read it; the
writer (holding its descriptor, O_APPEND) goes on appending.

Found (by hand 3/3, /tmp/af12/wb.py WHERE=4995 HOW=wb): the line removed is the 5th from the end (inside the last
256 bytes read). The agent says, at info, `file cut back in place to … bytes, the first 223665 of them what was read
of it: reading on from there` and `what was cut away … had all been read`, then reads the 4 lines after the removed
one again: 4 lines (all shipped before) twice, no warning. Removing a line 4,000 lines back (beyond the 64 KiB
window), or the very last line, holds; `sed -i` of the same line warns its repeat ("begins with the first …").
Fixed (session 15): the hash of the last 256 bytes read is nowhere in the file then; edits.aligned_end places the
end of what was read by the lines read after the edit (found once), and the write-back is warned as any other.

Promised: docs/operations.md "A live log trimmed or edited in place": "An editor that writes back into the same
file (truncate and rewrite) is told the same way (`app.log was written back in place edited …`) when the edit is
within the last 64 KiB read"; where the agent cannot prove where it was, the repeat is warned with its size, never
silent. README: nothing repeated."""
from __future__ import annotations

import time

import pytest

from tests.tail.attack_agent import Agent, append_numbered, exactly_once, numbered

pytestmark = pytest.mark.slow

N = 5000


def test_a_write_back_edit_near_the_end_repeats_nothing_unnamed(tmp_path):
    log = tmp_path / "app.log"
    append_numbered(log, 0, N)
    writer = open(log, "a")  # the application's descriptor, O_APPEND
    agent = Agent(tmp_path, [log])
    agent.start()
    try:
        assert agent.wait_delivered(range(N), 60), exactly_once(agent.seqs(), range(N))
        time.sleep(2)  # the operator opens the file, finds the line, saves
        kept = [line for line in log.read_bytes().splitlines(keepends=True) if f'"seq": {N - 5},'.encode() not in line]
        with open(log, "r+b") as f:  # written back into the same inode
            f.truncate(0)
            f.write(b"".join(kept))
        writer.write("".join(numbered(i) for i in range(N, N + 100)))
        writer.flush()
        assert agent.wait_delivered(range(N, N + 100), 60), exactly_once(agent.seqs(), range(N + 100))
        agent.get("/status")
        time.sleep(1)  # repeats written with the last lines show too
    finally:
        agent.stop()
        writer.close()
    journal = agent.errors()
    wrong = exactly_once(agent.seqs(), range(N + 100))
    assert not wrong, f"{wrong}: {journal[-1500:]}"
    assert "was written back in place edited" in journal and "1 line(s) removed" in journal, journal[-1500:]


def test_the_same_write_back_of_the_last_line_repeats_nothing(tmp_path):
    """The neighbour that holds: the very last line removed the same way."""
    log = tmp_path / "app.log"
    append_numbered(log, 0, N)
    agent = Agent(tmp_path, [log])
    agent.start()
    try:
        assert agent.wait_delivered(range(N), 60), exactly_once(agent.seqs(), range(N))
        time.sleep(2)
        kept = log.read_bytes().splitlines(keepends=True)[:-1]
        with open(log, "r+b") as f:
            f.truncate(0)
            f.write(b"".join(kept))
        append_numbered(log, N, N + 100)
        assert agent.wait_delivered(range(N, N + 100), 60), exactly_once(agent.seqs(), range(N + 100))
        agent.get("/status")
        time.sleep(1)
    finally:
        agent.stop()
    assert exactly_once(agent.seqs(), range(N + 100)) == "", agent.errors()[-1500:]
