"""Black-box attack: the followed path goes through a symlinked folder (`current` -> a release
folder) that is swapped atomically to a new release, as deployment tools do. A real `shipper run`
(poll_interval 0.2 s) must read what is written to the new release's file while it runs (the link's
folder is watched: the swap is seen at once and the watches move to the new target), and the old
release's last lines through the descriptor it still holds."""
from __future__ import annotations

import os
import time

import pytest

from tests.tail.attack_agent import Agent, exactly_once, numbered

pytestmark = pytest.mark.slow


def write(path, lo: int, hi: int) -> None:
    with open(path, "a") as f:
        f.write("".join(numbered(i) for i in range(lo, hi)))


def test_symlinked_folder_swapped_new_target_is_followed(tmp_path):
    (tmp_path / "r1").mkdir()
    (tmp_path / "r2").mkdir()
    os.symlink(tmp_path / "r1", tmp_path / "current")
    write(tmp_path / "r1" / "app.log", 0, 100)
    agent = Agent(tmp_path, [tmp_path / "current" / "app.log"], "    read_from: beginning")
    agent.start()
    try:
        assert agent.wait_delivered(range(100))
        write(tmp_path / "r2" / "app.log", 100, 200)
        os.symlink(tmp_path / "r2", tmp_path / "current.new")
        os.rename(tmp_path / "current.new", tmp_path / "current")  # the atomic swap
        write(tmp_path / "r1" / "app.log", 200, 250)  # the old release writes its last lines
        time.sleep(2.0)
        write(tmp_path / "r2" / "app.log", 250, 400)
        # (Generous: the safety rescan this must not wait for comes every 60 s.)
        assert agent.wait_delivered(range(400), timeout=45), exactly_once(agent.seqs(), range(400))
        # The new target is watched: a rotation there is seen (and the rotated file held) at once.
        os.rename(tmp_path / "r2" / "app.log", tmp_path / "r2" / "app.log.1")
        write(tmp_path / "r2" / "app.log", 400, 500)
        delivered = agent.wait_delivered(range(500), timeout=45)
    finally:
        assert agent.stop() == 0
    assert delivered, exactly_once(agent.seqs(), range(500))
    assert exactly_once(agent.seqs(), range(500)) == ""
    assert "data lost" not in agent.errors(), agent.errors()
