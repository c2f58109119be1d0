"""Attack 28 (exam28): the journal's reader stalls — not gone, just not reading: `shipper run … 2> >(logger …)` with
logger held by its syslog, `2>&1 | tee` on a slow disk, journald's stream socket while journald is stuck
(StandardError=journal), a container runtime's log pipe in blocking mode. docs/operations.md ("Standard error
closed") promises for the journal on syslog that "a syslog daemon that stops reading … never stops the agent" (a
backlog, then counted drops), and for stderr's reader *gone* a switch to syslog; a stderr that only stalls has
neither. Once ~58 KB of journal lines fill the pipe (600 FIFOs matched by the glob, each named once), every thread
that logs blocks in anon_pipe_write: 100 lines appended to the followed log are not shipped in 20 s, and a SIGTERM
does not end the agent within 30 s (shutdown_timeout 5). By hand 2 of 2. What should hold: the journal never stops
the agent — a line stderr cannot take now waits in a bounded backlog or is dropped and counted, as on syslog — and a
stop ends within shutdown_timeout + 5 s."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.journal_sinks import SHIPPER
from tests.stalled_reader import followed_log, ships_on_then_stops, unread
from tests.support import read_steady, wait

pytestmark = pytest.mark.slow  # (600 journal lines, waits of 20-30 s)


def test_a_stalled_stderr_reader_neither_stops_shipping_nor_the_stop(tmp_path: Path) -> None:
    cfg, log = followed_log(tmp_path)
    logs = log.parent
    out = tmp_path / "out.jsonl"
    read_end, write_end = os.pipe()  # the journal's reader, which stops reading
    with open(out, "wb") as o:
        agent = subprocess.Popen([SHIPPER, "run", "-c", str(cfg)], stdout=o, stderr=write_end)
    os.close(write_end)
    try:
        assert wait(lambda: out.read_bytes().count(b"\n") >= 100, 60), "the first lines were not shipped"
        for i in range(600):  # each is named once in the journal (a FIFO is not read): ~58 KB of lines
            os.mkfifo(logs / f"fifo{i:04d}-{'x' * 100}.log")
        # the journal's pipe full (64 KiB, less the room no whole line fits in): the agent's next line waits
        assert read_steady(lambda: unread(read_end), lambda n: n > 50_000, 90) > 50_000, "the pipe did not fill"
        shipped, ended = ships_on_then_stops(agent, log, out)
    finally:
        if agent.poll() is None:
            agent.kill()
            agent.wait()
        os.close(read_end)
    assert shipped, "lines appended while the journal's reader stalled were not shipped in 20 s"
    assert ended, "a SIGTERM did not end the agent within 30 s (shutdown_timeout 5) while its journal's reader stalled"
