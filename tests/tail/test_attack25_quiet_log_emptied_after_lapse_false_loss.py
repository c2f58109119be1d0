"""Attack 25 (exam25d, issue 13): a quiet log, read to its end, emptied in place (`: > app.log`) seconds after a lapse
of the agent's attention that had already ended, is named `data lost … the agent did not read for N s, its output's
queue full (backpressure)` (or `… the agent was stopped (SIGSTOP) and continued since its last read`) and counted in
`shipper_losses`, though nothing was written to it since the agent last read it to its end: a false "data lost".

docs/operations.md ("copytruncate loses lines") counts a cut as a loss when the agent "stopped looking for a while …
since its last read to the end", because "lines written meanwhile were cut away unread"; a log emptied "a second or
more after its last write" with nothing unread stays `data possibly lost … (possibly none)`, not counted. Found by
hand, each 2 of 2 (and once more in this file), with the Fluentd peer:
- the same log: the output down 4 s while 5,000 lines were written, then back; every line delivered (the reader read
  the log to its end after the outage), the log quiet 3-8 s, then emptied: counted, "did not read for 4 s";
- another log of the same source took the backpressure; this one was quiet for 10 s before the outage and read to its
  end long before it: counted, "did not read for 4 s";
- the agent SIGSTOPped 2 s and continued while the log was quiet (nothing written before, during or after the stop),
  emptied 3 s later: counted, "the agent was stopped (SIGSTOP) and continued since its last read";
- the log emptied first, the agent SIGSTOPped right after (before it saw the cut) and continued 2 s later: counted,
  "… stopped (SIGSTOP) and continued since its last read" or "… the agent was not run for a while (frozen — a cgroup
  freeze — or starved of CPU)" (2 of 2 by hand): the lapse came after the cut, nothing was written before it. Still so
  after d278d4e (a lapse explains only the cuts of files not found as last read at its end): the cut file is not as
  last read, though its mtime (the cut) is older than the lapse.
The lapse is kept for the whole source until a safety rescan (an emptying 75 s after the SIGCONT was "possibly none"):
within a minute of an outage's end (up to 10 minutes where the rescan interval grew with many files) a quiet log
emptied by an operator or a nightly `truncate` is a counted loss that never happened.
"""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from tests.e2e.fluentd_agent import metric_value, run_agent, stored, write_config, write_lines
from tests.peers.forward_server import ForwardServer
from tests.support import free_port, stop_process, wait_until

pytestmark = pytest.mark.slow  # (an agent and waits of ~20 s each: handed out first)


@pytest.mark.parametrize("lapse", ["outage_caught_up", "other_file_backpressure", "sigstop_while_quiet", pytest.param(
    "sigstop_right_after_the_cut", marks=pytest.mark.xfail(reason=(
        "exam25d: a quiet log emptied, the agent SIGSTOPped right after (before it took the cut in) and continued: "
        "counted 'data lost … stopped (SIGSTOP) and continued' though the cut came before the lapse and nothing was "
        "written. Since the gather window's look at the cut proves it came before the stop (attention.Lapses.since), "
        "only a stop that lands before the agent's first look at it is still counted: the stop's start cannot be "
        "known from inside (1 of 3 in this test; not strict: load decides where the stop lands)")))])
def test_a_quiet_log_emptied_after_a_lapse_that_ended_is_not_counted(tmp_path: Path, lapse: str) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    quiet, other = logs / "quiet.log", logs / "other.log"
    write_lines(quiet, "q", 0, 100)
    write_lines(other, "o", 0, 10)
    peer = ForwardServer(port=free_port()).start()
    http = free_port()
    agent = run_agent(write_config(tmp_path, http, [logs / "*.log"], [("fwd", peer.port)]), tmp_path / "agent.err")
    try:
        wait_until(lambda: len(stored(peer)) == 110, 60, "the first lines delivered")
        time.sleep(2.0)  # both logs read to their end and delivered
        if lapse == "sigstop_right_after_the_cut":
            pass  # the stop comes after the cut, below
        elif lapse == "sigstop_while_quiet":
            os.kill(agent.pid, signal.SIGSTOP)
            time.sleep(2.0)  # nothing written before, during or after the stop
            os.kill(agent.pid, signal.SIGCONT)
        else:
            peer.frozen.set()  # the output down: the reader is held back by its full queue
            write_lines(quiet if lapse == "outage_caught_up" else other, "b", 0, 5000)
            time.sleep(4.0)
            peer.frozen.clear()
            wait_until(lambda: len(stored(peer)) == 5110, 120, "every line delivered after the outage")
        time.sleep(3.0)  # the log quiet, read to its end since its last write
        assert time.time() - quiet.stat().st_mtime >= 2.0
        with open(quiet, "w"):
            pass  # `: > quiet.log`: everything it held was read and delivered
        if lapse == "sigstop_right_after_the_cut":
            os.kill(agent.pid, signal.SIGSTOP)  # before the agent saw the cut: the cut came first
            time.sleep(2.0)
            os.kill(agent.pid, signal.SIGCONT)
        time.sleep(1.0)
        write_lines(quiet, "q", 1000, 10)
        wait_until(lambda: {("q", n) for n in range(1000, 1010)} <= set(stored(peer)), 60, "the lines after the cut")
        time.sleep(2.0)  # a late warning, if any
        losses = metric_value(http, "shipper_losses_total")
    finally:
        stop_process(agent, 60)
        peer.stop()
    counts, written = stored(peer), 120 if lapse.startswith("sigstop") else 5120
    assert len(counts) == written and max(counts.values()) == 1, (
        f"the premise: every line delivered once ({len(counts)} of {written}, {sum(counts.values())} stored)")
    journal = (tmp_path / "agent.err").read_text()
    said = [ln.split("msg=")[1][:220] for ln in journal.splitlines() if "lost" in ln and "quiet.log" in ln]
    assert not (losses or 0) and not any(s.startswith('"data lost') for s in said), (
        f"nothing was lost, yet counted {losses}; said: {said}")
    assert any(s.startswith('"data possibly lost') for s in said), said
