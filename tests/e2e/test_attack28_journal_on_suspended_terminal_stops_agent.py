"""Attack 28 (exam28): a2ed140 keeps the journal from blocking on a stderr that is a pipe or a socket; a terminal is
neither. `shipper run -c … > audit.jsonl` in a terminal (the journal on it), and the operator presses Ctrl-S — by
accident, or to read — suspending the terminal's output (XOFF); or the terminal is an ssh session whose link stalls.
The next journal line blocks the thread that writes it, and with it the agent: three warnings (three FIFOs matched,
each named once) after the Ctrl-S, 100 lines appended to the followed log are not shipped in 20 s, and a SIGTERM
does not end it within 30 s (shutdown_timeout 5) — a thread waits in the tty's write. Without the Ctrl-S the same
steps ship all 200 and the SIGTERM ends it in 0.2 s. By hand 2 of 2 (Ctrl-S) and 1 of 1 (a raw terminal whose reader
stops reading, 600 warnings). What should hold: the journal never stops the agent, whatever its stderr (a terminal
written through a non-blocking descriptor and a bounded backlog, as a pipe now is), and a stop ends on time."""
from __future__ import annotations

import os
import pty
import subprocess
import time
from pathlib import Path

import pytest

from tests.journal_sinks import SHIPPER
from tests.stalled_reader import followed_log, ships_on_then_stops
from tests.support import wait

pytestmark = pytest.mark.slow  # (waits of 20-30 s)


def test_a_suspended_terminal_neither_stops_shipping_nor_the_stop(tmp_path: Path) -> None:
    cfg, log = followed_log(tmp_path)
    logs = log.parent
    out = tmp_path / "out.jsonl"
    master, terminal = pty.openpty()  # a terminal with its usual settings (IXON: Ctrl-S suspends its output)
    with open(out, "wb") as o:
        agent = subprocess.Popen([SHIPPER, "run", "-c", str(cfg)], stdout=o, stderr=terminal,
                                 start_new_session=True)
    os.close(terminal)
    try:
        assert wait(lambda: out.read_bytes().count(b"\n") >= 100, 60), "the first lines were not shipped"
        os.write(master, b"\x13")  # Ctrl-S
        time.sleep(1)
        for i in range(3):
            os.mkfifo(logs / f"fifo{i}.log")  # each named once in the journal
        time.sleep(5)
        shipped, ended = ships_on_then_stops(agent, log, out)
    finally:
        if agent.poll() is None:
            agent.kill()
            agent.wait()
        os.close(master)
    assert shipped, "lines appended after a Ctrl-S in the journal's terminal were not shipped in 20 s"
    assert ended, "a SIGTERM did not end the agent within 30 s (shutdown_timeout 5) while its terminal was suspended"
