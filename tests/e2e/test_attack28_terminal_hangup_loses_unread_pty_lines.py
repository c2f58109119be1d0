"""Attack 28 (exam28): stdout on a terminal that stalls and then hangs up (`ssh -t host shipper run …` over a link that
stalls, then drops; `docker run -t` whose attach goes away). The terminal's reader takes 100 lines, then stops
reading; the agent writes the next 20 into the pseudo-terminal, where they wait unread (the kernel holds them for the
master side), and acknowledges them: for a pipe it waits until the reader has taken what it wrote (FIONREAD), for a
terminal it does not. The terminal hangs up: the kernel drops what the master side had not read. With the terminal
controlling, the agent stops (`the terminal hung up (SIGHUP): stopping as at SIGTERM; what is not delivered is read
again at the next start`, exit 0); without (setsid), its next write ends the run (`its terminal hung up (EIO); the
batch being written is read again`). Either way the next start writes only what came after: the 20 lines never
reached anyone, and nothing names them. By hand 2 of 2 without a controlling terminal, 1 of 1 with. What should
hold: a line still in the terminal's queue is not acknowledged (the agent waits for the queue as for a pipe's,
TIOCOUTQ), so a hang-up loses nothing: it is written again at the next start.

Session 29 (fix13): that cannot be had. The agent writes the slave side, whose TIOCOUTQ is always 0 (the bytes go
straight into the master side's buffer), and nothing else says what the reader took; a hang-up may come at any moment,
so holding the acknowledgement of what a terminal may still hold would hold it for ever (a reader that is there reads
at once, and the agent could not tell it from one that stalled). So what holds is the naming: at the hang-up, the
last lines written to the terminal, as many as it can hold unread, are named once as possibly unread, with their
count, and the lines lost are among them (plugins/outputs/stdout.py, _TerminalTail)."""
from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

from tests.journal_sinks import numbered
from tests.stalled_reader import followed_log, on_a_terminal, read_terminal, shipped_numbers, unread, written_again
from tests.support import read_steady, stop_process, wait


@pytest.mark.parametrize("controlling", [True, False], ids=["controlling", "setsid"])
def test_lines_unread_in_a_terminal_that_hangs_up_are_named(tmp_path: Path, controlling: bool) -> None:
    cfg, log = followed_log(tmp_path)
    err = tmp_path / "first.err"
    agent, master = on_a_terminal(cfg, err, controlling)
    got = b""
    try:
        got = read_terminal(master, 100)
        assert len(shipped_numbers(got)) == 100, err.read_text()[-800:]
        with open(log, "a") as f:
            f.write(numbered(100, 120))  # the terminal's reader stalls now
        assert read_steady(lambda: unread(master), lambda n: n > 0, 30) > 0, "nothing written to the terminal"
        os.close(master)  # the terminal hangs up with them unread
        master = -1
        time.sleep(2)
        with open(log, "a") as f:
            f.write(numbered(120, 121))  # a write after: the agent without a terminal meets the hang-up
        wait(lambda: agent.poll() is not None, 30)
    finally:
        if master >= 0:
            os.close(master)
        stop_process(agent, 30)
    again = written_again(cfg, tmp_path / "again.jsonl")
    missing = sorted(set(range(121)) - set(shipped_numbers(got) + shipped_numbers(again)))
    journal = err.read_text()
    named = [int(n) for n in re.findall(r"stdout's terminal hung up: the last \d+ lines .* possibly_lost=(\d+)",
                                        journal)]
    assert len(named) == 1, f"{len(missing)} lines lost with the terminal: {missing[:5]}…, named {named}: {journal}"
    # the lines lost are among the last ones named (the last written before the hang-up: 119, or 120 without a
    # controlling terminal, whose batch met the hang-up and is read again)
    last = max(shipped_numbers(got) + missing)
    assert set(missing) <= set(range(last + 1 - named[0], last + 1)), (missing, named, journal)
    assert not set(shipped_numbers(again)) & set(shipped_numbers(got))  # nothing seen written again
