"""A stop right after the full state_dir has room again (reload23, session 22).

docs/operations.md: a full state_dir pauses reading and retries the commit with backoff (0.2 s doubling to 10 s);
"Free some space: shipper carries on by itself …, nothing lost and nothing sent twice", and a stop exits 0 when
what was delivered is saved. Found (reload23's runs of exam23b's full-state_dir reload, 13 of 16 by hand, and 3 of
3 here without a reload): a SIGTERM within seconds of the space coming back waited its shutdown_timeout for a
commit whose next retry was still seconds away, said `shutdown timeout: undelivered batches stay unacknowledged
and are read again next start` and `stopped with batches undelivered; they are read again next start`, then
saved that very commit (`checkpoints saved again`) and exited 1: an operator paged for a repeat that never comes.
Now the stop tries the commits waiting for their retry at once.
"""
from __future__ import annotations

import signal
import time
from collections import Counter

import pytest

from tests.fs_faults import kept_full, small_tmpfs
from tests.tail.attack_agent import Agent, append_numbered, append_until_commits_fail

pytestmark = pytest.mark.slow


def test_a_stop_right_after_the_state_dir_has_room_again_saves_and_exits_0(tmp_path):
    log = tmp_path / "app.log"
    append_numbered(log, 0, 1000)
    agent = Agent(tmp_path, [log])
    agent.cfg.write_text(agent.cfg.read_text().replace("shutdown_timeout: 20", "shutdown_timeout: 1"))
    with small_tmpfs(tmp_path / "state", 3072) as state:
        try:
            agent.start()
            assert agent.wait_delivered(range(1000)), agent.errors()
            with kept_full(state):
                n = append_until_commits_fail(agent, log, 1000)
                assert agent.wait_delivered(range(n)), agent.errors()[-600:]
                # The commit's retries back off to 10 s apart: after 13 s of failures the next one is up to 10 s
                # away, and the stop's 1 s falls before it 9 times in 10 (without trying it itself).
                time.sleep(13)
            code = agent.stop(signal.SIGTERM)  # the space back a moment ago
            first = agent.errors()
            agent.start()
            time.sleep(2)  # a repeat, if any, arrives whole
            assert agent.stop() == 0, agent.errors()[-600:]
        finally:
            if agent.proc is not None and agent.proc.poll() is None:
                agent.proc.kill()
                agent.proc.wait(30)
    assert code == 0 and "read again next start" not in first, first[-1500:]
    counts = Counter(agent.seqs())
    assert sorted(counts) == list(range(n)), "lines lost"
    assert max(counts.values()) == 1, "a line delivered twice"
