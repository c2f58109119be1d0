"""Black-box attack 6 (hostile operator on the state_dir): a FIFO made at the snapshot's predictable
temporary name (`mkfifo state/checkpoints.snapshot.json.<writer pid>.tmp`) while the agent runs. The
checkpoint writer blocks for good opening it: commits never return, /health blames the disk (`a checkpoint
commit … has not returned for 14s (is the state_dir's filesystem frozen, or its disk hung?)`), reading
stops (300 of 500 lines delivered by hand), the stop takes shutdown_timeout + 8 s, and the writer is left
behind holding the state_dir's lock, so every later start is refused until someone kills it (1 of 1 by hand,
plus this test). The promise (docs/operations.md, DEVELOPERS.md): the snapshot is a side copy for `shipper
status`; bad input on the host never wedges the agent, and every failure is named for what it is."""
from __future__ import annotations

import os
import signal
import time

from tests.support import writer_pid
from tests.tail.attack_agent import Agent, numbered


def test_a_fifo_at_the_snapshot_temporary_name_does_not_wedge_the_agent(tmp_path):
    log = tmp_path / "app.log"
    log.write_text("".join(numbered(i) for i in range(100)))
    agent = Agent(tmp_path, [log])
    agent.start()
    writer = writer_pid(agent.proc.pid)
    try:
        assert agent.wait_delivered(range(100)), agent.errors()
        os.mkfifo(tmp_path / "state" / f"checkpoints.snapshot.json.{writer}.tmp")
        for k in range(1, 9):  # changes over 16 s, so the agent writes new snapshots (every 5 s)
            with open(log, "a") as f:
                f.write("".join(numbered(i) for i in range(100 * k, 100 * k + 100)))
            assert agent.wait_delivered(range(100 * k + 100), timeout=20), (
                f"{len(set(agent.seqs()))} of {100 * k + 100} lines delivered; {agent.errors()[-400:]}")
            time.sleep(2)
    finally:
        agent.proc.send_signal(signal.SIGTERM)
        agent.proc.wait(90)
        try:
            os.kill(writer, signal.SIGKILL)  # the wedged writer outlives the agent
        except ProcessLookupError:
            pass
