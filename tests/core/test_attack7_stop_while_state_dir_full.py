"""Black-box attack 7 (state and stops): the state_dir's filesystem fills up (here a 4 MiB tmpfs filled with
dd) while lines are shipped, and the agent is stopped (SIGTERM) before space is freed.

README, Known limits: "A SIGTERM stop repeats nothing"; docs/operations.md: a full state_dir pauses reading and
retries the commit, nothing sent twice; and where a stop must leave delivered lines unsaved (a frozen
filesystem) the journal says so: "what was delivered since the last saved checkpoint is read and sent again at
the next start".

Found (3 of 3 by hand, 20 lines every 10 ms): the stop takes 5.1-5.2 s (shutdown_timeout 5), exit 1, and the
journal says `stopped with batches undelivered; they are read again next start undelivered="output stdout: 1
batches; source app: 2 batches in flight"`. The next start then writes 100 lines again that the first run had
already written to stdout (the batch whose commit the full disk refused): repeated, and named undelivered. What
held: nothing lost; with the space freed while running (no stop), nothing is repeated.
Now the stop says it: "stopped while checkpoints cannot be saved: what was delivered since the last saved
checkpoint is read and sent again at the next start (a repeat)"."""
from __future__ import annotations

import re
import signal
import subprocess
import time
from collections import Counter

from tests.support import wait_until
from tests.tail.attack_agent import Agent, numbered


def append(path, lo: int, hi: int) -> None:
    with open(path, "a") as f:
        f.write("".join(numbered(i) for i in range(lo, hi)))


def test_stop_while_the_state_dir_is_full_repeats_nothing_silently(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "none", str(state)], check=True)
    agent = None
    try:
        log = tmp_path / "app.log"
        append(log, 0, 1000)
        agent = Agent(tmp_path, [log])
        agent.cfg.write_text(agent.cfg.read_text().replace("shutdown_timeout: 20", "shutdown_timeout: 3"))
        agent.start()
        assert agent.wait_delivered(range(1000)), agent.errors()
        subprocess.run(["dd", "if=/dev/zero", f"of={state}/filler", "bs=64k"], capture_output=True)
        n = 1000
        deadline = time.monotonic() + 60
        while "checkpoint commit failed" not in agent.errors() and time.monotonic() < deadline:
            append(log, n, n + 100)  # batches whose commits the full filesystem refuses
            n += 100
            time.sleep(0.2)
        assert "checkpoint commit failed" in agent.errors(), "the commits did not fail: the filesystem is not full"
        assert agent.wait_delivered(range(n)), agent.errors()[-600:]
        first = agent.stop(signal.SIGTERM)
        journal = agent.errors()
        (state / "filler").unlink()
        agent.start()
        assert agent.wait_delivered(range(n)), agent.errors()[-600:]
        wait_until(lambda: len(agent.seqs()) >= n, 30, "the next run's lines")
        time.sleep(2)  # let a repeat, if any, arrive whole
        assert agent.stop() == 0, agent.errors()[-600:]
    finally:
        if agent is not None and agent.proc is not None and agent.proc.poll() is None:
            agent.proc.kill()
            agent.proc.wait(30)
        subprocess.run(["umount", "-l", str(state)], check=False)
    counts = Counter(agent.seqs())
    assert sorted(counts) == list(range(n)), "lines lost"
    repeated = sorted(k for k, v in counts.items() if v > 1)
    said = re.findall(r'.*(?:sent again|repeat).*', journal)
    assert not repeated or said, (f"{len(repeated)} lines delivered by the first run were sent again "
                                  f"({repeated[:3]}…{repeated[-3:]}) and its stop (exit {first}) did not say so: "
                                  f"{journal[-500:]}")
