"""Attack 30 (issue 21, examiner exam30b): an agent frozen (SIGSTOP, a cgroup freeze, a VM paused) across two
copytruncate rotations of a log whose writer does not append names a false "data lost … before the N zero bytes at
its start" for the later copy.

docs/design.md, issue 21 case 5: a later copytruncate copy made under a writer without `O_APPEND` starts with the
hole its content had, "as long as the content cut before it. Exactly as long as the copy made before it …, nothing
was written between that copy and its cut and the bytes the hole stands for are all in that copy: no loss. Named
'data lost … before the N zero bytes at its start', it was a loss". Session 29 (0bbdcaa) made that hold after a
kill -9 and a stop: with the rotations made while the agent was down, nothing is named (1 of 1 each here, plain,
`compress`, `compress` + `delaycompress`). Made while the agent is frozen, the same two rotations (lines 0-99 read;
copytruncate: app.log.1 = lines 0-99, 6,290 bytes, the writer's next 20 lines after a 6,290-byte hole;
copytruncate again: app.log.2 = that, app.log.1 = the hole and the 20 lines; 20 more) are followed by "data lost: an
unknown number of bytes of app.log.1 were in it before the 6290 zero bytes at its start: it was truncated under a
writer that does not append (copytruncate) before they were read" — every line is shipped exactly once: those bytes
are the 100 lines of app.log.2, read before the freeze. An operator told of a loss goes looking for lines that are
all there.

Found by hand: frozen across two copytruncates, plain, `compress`, `compress` + `delaycompress`, and after one
copytruncate seen running then two `delaycompress` ones frozen: 4 of 4 name it, every line once; the same rotations
across a stop or a kill -9: 0 of 6. In this test (plain, `compress`) 1 of 1 each.
"""
from __future__ import annotations

import json
import os
import signal
import time

import pytest

from tests.tail.attack_agent import Agent, exactly_once, logrotate_of


def _lines(lo: int, hi: int) -> bytes:
    return "".join(json.dumps({"seq": i, "pad": "x" * 40}) + "\n" for i in range(lo, hi)).encode()


@pytest.mark.parametrize("directives", ["copytruncate\nrotate 4", "copytruncate\nrotate 4\ncompress"],
                         ids=["plain", "compress"])
def test_frozen_across_two_copytruncates_under_a_non_appending_writer_names_no_false_hole_loss(tmp_path, directives):
    logs = tmp_path / "logs"
    logs.mkdir()
    live = logs / "app.log"
    fd = os.open(live, os.O_WRONLY | os.O_CREAT, 0o644)  # `prog > app.log`: no O_APPEND
    agent = Agent(tmp_path, [live])
    try:
        os.write(fd, _lines(0, 100))
        agent.start()
        assert agent.wait_delivered(range(100)), agent.errors()
        time.sleep(2)  # read and committed
        os.kill(agent.proc.pid, signal.SIGSTOP)
        n = 100
        for _ in range(2):
            logrotate_of(tmp_path, live, directives, settle=0.05)()
            os.write(fd, _lines(n, n + 20))  # at the writer's offset: after a hole as long as what was cut
            n += 20
        os.kill(agent.proc.pid, signal.SIGCONT)
        assert agent.wait_delivered(range(n)), agent.errors()[-3000:]
        time.sleep(3)  # whatever else it reads or says
    finally:
        os.close(fd)
        if agent.proc is not None and agent.proc.poll() is None:
            os.kill(agent.proc.pid, signal.SIGCONT)
            agent.stop()
    assert not exactly_once(agent.seqs(), range(n))  # nothing lost, nothing repeated
    false_losses = [ln for ln in agent.errors().splitlines() if "data lost" in ln and "zero bytes at its start" in ln]
    assert not false_losses, f"every line shipped once, yet: {false_losses}"
