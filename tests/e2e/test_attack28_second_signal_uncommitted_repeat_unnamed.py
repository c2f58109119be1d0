"""Attack 28 (exam28): a second signal while the checkpoint writer does not return (the state_dir's filesystem frozen:
fsfreeze, a snapshot's backup; here the writer stopped with SIGSTOP, as docs/operations.md treats it). The stdout
output has written 300 events; their commit waits in the writer. One SIGTERM waits `shutdown_timeout`, then says
`stopping without the checkpoint commit in progress: … what was delivered since the last saved checkpoint is read and
sent again at the next start`. The operator who does not wait sends a second SIGTERM: the agent exits at once saying
only `second signal: exiting without waiting for in-flight batches`. The writer is then killed as systemd's
KillMode=mixed kills what is left of the unit (at the thaw), and the next start writes the 300 events again: a
repeat named nowhere (2 of 2 by hand, second signal 0.5 s and 2 s after the first; the single-signal stop names it).
What should hold: a second signal names what it leaves unsaved, as the first stop does when it gives the commit up
(docs/operations.md: a second signal "names … what a send in progress may already have delivered")."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.journal_sinks import SHIPPER, followed_log, numbered
from tests.support import stop_process, stop_twice, wait, writer_pid

pytestmark = pytest.mark.slow  # (an agent, a frozen writer, a second agent: seconds of waits)


def _lines(path: Path) -> int:
    return path.read_bytes().count(b"\n")


def test_a_second_signal_names_the_delivered_events_it_leaves_unsaved(tmp_path: Path) -> None:
    cfg, log = followed_log(tmp_path, 100, shutdown_timeout=10)
    out, err = tmp_path / "out.jsonl", tmp_path / "err.log"
    with open(out, "wb") as o, open(err, "wb") as e:
        agent = subprocess.Popen([SHIPPER, "run", "-c", str(cfg)], stdout=o, stderr=e)
    writer = 0
    try:
        assert wait(lambda: _lines(out) >= 100, 60), err.read_text()[-800:]
        time.sleep(1)  # the first 100 saved
        writer = writer_pid(agent.pid)
        os.kill(writer, signal.SIGSTOP)  # the state_dir frozen: the commit in progress does not return
        with open(log, "a") as f:
            f.write(numbered(100, 400))
        assert wait(lambda: _lines(out) >= 400, 60), err.read_text()[-800:]
        stop_twice(agent)  # the operator does not wait
    finally:
        if agent.poll() is None:
            stop_process(agent, 30)
        if writer:
            os.kill(writer, signal.SIGKILL)  # systemd's KillMode=mixed, effective at the thaw
            os.kill(writer, signal.SIGCONT)
    assert wait(lambda: not os.path.exists(f"/proc/{writer}") or "State:\tZ" in Path(f"/proc/{writer}/status")
                .read_text(), 30)
    again = tmp_path / "again.jsonl"
    with open(again, "wb") as o:
        done = subprocess.run([SHIPPER, "run", "--once", "-c", str(cfg)], stdout=o, stderr=subprocess.PIPE,
                              timeout=120)
    assert done.returncode == 0, done.stderr.decode()[-800:]
    repeated = _lines(again)
    assert repeated > 0, "nothing written again: no repeat to name (the writer saved the checkpoint after all)"
    journal = err.read_text()
    named = [ln for ln in journal.splitlines()
             if "level=info" not in ln and re.search(r"repeat|sent again|written again", ln)]
    assert named, f"{repeated} events written again by the next start, named nowhere by the stop: {journal[-1200:]}"
