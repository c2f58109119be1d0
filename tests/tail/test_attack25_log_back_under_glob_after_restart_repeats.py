"""Attack 25 (issue 21, examiner exam25i): a log that leaves the glob while the agent is stopped and comes back
before a later start is read again whole, without a word.

A deploy swaps the symlinked release folder (`ln -sfn rel2 current`, paths: [current/app.log]) while the agent is
stopped (a host restart, an upgrade); later, also while it is stopped, the deploy is rolled back (`current` ->
rel1 again). Or an operator moves a log out of the folder and back (`mv app.log /tmp/`, `mv /tmp/app.log .`). At
the start after the swap the agent names the old file "data lost: an unknown number of bytes … rotated away before
the rest could be read … or renamed where the source's paths do not reach" (counted, though the file was neither
written nor deleted), and forgets it; at the start after the rollback that same file (same device, inode, head, and
bytes before the saved offset) is read from its start: all of its 100 lines are shipped a second time, after clean
SIGTERM stops, and the journal says nothing of a repeat. 2 of 2 by hand (symlink and mv), and 4 of 4 swaps back in a
script swapping rel1/rel2 four times with restarts. While the agent runs, the same swap and rollback (15 s apart)
repeat nothing.

What should happen: a file found again under the globs that holds what was read of a content (the same identity and
the same bytes before its read position) reads on from there; nothing is shipped twice. (Session 26: a live
file's content named "rotated away" is kept as a tombstone, read up to where it was, for TOMBSTONE_SECONDS: back
within the hour, it is found again by what was read of it. The loss named at the first start stays: while the file
is out of reach, nothing tells a move from a deletion.)
"""
from __future__ import annotations

import os
import time

import pytest

from tests.tail.attack18_agent import Agent, append


def swap_link(base, to: str) -> None:
    os.symlink(to, base / "next")
    os.rename(base / "next", base / "current")  # `ln -sfn`: atomic


@pytest.mark.slow
@pytest.mark.parametrize("how", ["symlink-rollback", "moved-back"])
def test_a_log_back_under_the_glob_after_restarts_is_not_read_again(tmp_path, how):
    base = tmp_path / "logs"
    base.mkdir()
    if how == "symlink-rollback":
        (base / "rel1").mkdir()
        (base / "rel2").mkdir()
        os.symlink("rel1", base / "current")
        live = base / "current" / "app.log"
        first = base / "rel1" / "app.log"
        append(base / "rel2" / "app.log", 100, 100)
        expected = list(range(200))
    else:
        (base / "away").mkdir()
        live = first = base / "app.log"
        expected = list(range(100))
    append(first, 0, 100)
    agent = Agent(tmp_path, [str(live)])
    agent.start()
    agent.wait_seqs(range(100))
    agent.stop()

    if how == "symlink-rollback":
        swap_link(base, "rel2")                       # the deploy
    else:
        os.rename(first, base / "away" / "app.log")   # moved out of the glob
    agent.start()
    time.sleep(4)
    agent.stop()

    if how == "symlink-rollback":
        swap_link(base, "rel1")                       # the rollback
    else:
        os.rename(base / "away" / "app.log", first)   # moved back
    agent.start()
    time.sleep(4)
    agent.wait_seqs(expected)
    agent.stop()

    seqs = agent.seqs()
    assert sorted(seqs) == expected, f"{len(seqs) - len(set(seqs))} lines shipped twice; " + repr(agent.warnings())
