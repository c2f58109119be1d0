"""Attack 27 (issue 21, examiner exam27a): a log written without O_APPEND (`prog > app.log`) and rotated by hand with
`cp app.log app.log.1 && truncate -s0 app.log` (copytruncate) twice while the agent is stopped. The first copy holds
exactly what was read; the writer goes on at its offset, so the live file, and the second copy made of it, start with
a hole as long as that first content. At the next start the agent says

    data lost: an unknown number of bytes of app.log.1 were in it before the 6290 zero bytes at its start: it was
    truncated under a writer that does not append (copytruncate) before they were read …

and counts it (shipper_losses_total 3: the two windows and this), although the bytes the hole replaced are the
content read to its end before the stop (in app.log.2, found as its copy): every line arrives once. The hole ends
exactly where that content's reading ended. (The two copytruncate windows are named as well, as documented: those
are no part of this.)

Found by a kill -9 fuzz (a non-appending writer, cp+truncate every 0.5-2.5 s, the agent killed or stopped at random):
such warnings named every backup at some restarts. By hand: 3 of 3 (stop, stop, kill -9).
"""
from __future__ import annotations

import json
import os
import shutil

import pytest

from tests.tail.attack_agent import Agent


def _lines(lo: int, hi: int) -> bytes:
    return "".join(json.dumps({"seq": i, "pad": "x" * 40}) + "\n" for i in range(lo, hi)).encode()


@pytest.mark.slow
def test_hole_over_what_was_read_is_no_loss(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    live = logs / "app.log"
    fd = os.open(live, os.O_WRONLY | os.O_CREAT, 0o644)  # `prog > app.log`: writes at its own offset
    agent = Agent(tmp_path, [live])
    try:
        os.write(fd, _lines(0, 100))
        agent.start()
        assert agent.wait_delivered(range(100)), agent.errors()
        assert agent.stop() == 0
        read_to = live.stat().st_size

        def copytruncate() -> None:
            if (logs / "app.log.1").exists():
                os.rename(logs / "app.log.1", logs / "app.log.2")
            shutil.copyfile(live, logs / "app.log.1")
            os.truncate(live, 0)

        copytruncate()                 # app.log.1: what was read, whole
        os.write(fd, _lines(100, 150))  # at the writer's offset: app.log is a hole of `read_to` bytes, then lines
        copytruncate()                 # app.log.1 (that hole and 50 lines), app.log.2 (what was read)
        os.write(fd, _lines(150, 200))
        assert (logs / "app.log.1").read_bytes()[:read_to] == bytes(read_to)
        agent.start()
        assert agent.wait_delivered(range(200)), agent.errors()[-3000:]
        seqs = agent.seqs()
        counted = agent.losses_counted()
    finally:
        os.close(fd)
        if agent.proc is not None and agent.proc.poll() is None:
            agent.stop()
    assert sorted(seqs) == list(range(200)), "every line once"
    false = [ln for ln in agent.errors().splitlines() if "zero bytes at its start" in ln]
    assert not false, f"a loss named where none was (shipper_losses_total {counted}):\n" + "\n".join(false)
