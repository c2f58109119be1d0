"""A stop while the state_dir's filesystem is full (session 9, tests/core/test_attack7_stop_while_state_dir_full.py):
the batches delivered since the last saved checkpoint could not be saved, so the next start sent them again
(named). The checkpoint writer now keeps a reserve file (checkpoint_db.RESERVE, made at its start where the
filesystem has room for it several times over); a stop that meets a full disk gives it up, and the last
commits fit in its space: exit 0, nothing sent twice. Real tmpfs filled with dd, a real agent, lines counted."""
from __future__ import annotations

import signal
import time
from collections import Counter

from shipper.checkpoint_db import RESERVE, RESERVE_BYTES
from tests.fs_faults import fill, small_tmpfs
from tests.support import wait_until
from tests.tail.attack_agent import Agent, append_numbered, append_until_commits_fail


def test_a_stop_on_a_full_state_dir_saves_its_last_checkpoints_in_the_reserve(tmp_path):
    log = tmp_path / "app.log"
    with small_tmpfs(tmp_path / "state", 8 * 1024) as state:
        append_numbered(log, 0, 1000)
        agent = Agent(tmp_path, [log])
        agent.cfg.write_text(agent.cfg.read_text().replace("shutdown_timeout: 20", "shutdown_timeout: 3"))
        try:
            agent.start()
            assert agent.wait_delivered(range(1000)), agent.errors()
            assert (state / RESERVE).stat().st_size == RESERVE_BYTES
            filler = fill(state)
            n = 1000
            n = append_until_commits_fail(agent, log, n)
            assert agent.wait_delivered(range(n)), agent.errors()[-600:]
            first = agent.stop(signal.SIGTERM)
            journal = agent.errors()
            filler.unlink()
            agent.start()
            wait_until(lambda: (state / RESERVE).exists(), 30, "the reserve made again at the start")
            append_numbered(log, n, n + 10)
            n += 10
            assert agent.wait_delivered(range(n)), agent.errors()[-600:]
            time.sleep(2)  # let a repeat, if any, arrive whole
            assert agent.stop() == 0, agent.errors()[-600:]
        finally:
            if agent.proc is not None and agent.proc.poll() is None:
                agent.proc.kill()
                agent.proc.wait(30)
    assert first == 0, journal[-800:]
    assert "reserve is given up" in journal, journal[-800:]
    counts = Counter(agent.seqs())
    assert sorted(counts) == list(range(n)), "lines lost"
    repeated = sorted(k for k, v in counts.items() if v > 1)
    assert not repeated, f"{len(repeated)} lines sent again ({repeated[:3]}…): {journal[-600:]}"
