"""An agent over one log (tmp_path/app.log) shipping to a strict Fluentd peer, the peer frozen (an outage: the reader
stops at its full queue) while 20,000 lines (2 MB) are written, until a look (/status) sees the log at its new size:
the set-up the cut-back tests of attacks 25 and 26 share (tests/tail/test_attack25_cut_above_read_position_silent.py,
test_attack26_cut_above_read_position_across_a_{stop,reload}_unsaid.py, test_attack26_chmod_touch_during_outage_
false_loss.py, test_attack26_fallocate_during_outage_false_loss.py). What each does to the log then is its own."""
from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.e2e.fluentd_agent import run_agent, source_status, write_config, write_lines
from tests.peers.forward_server import ForwardServer
from tests.support import free_port, stop_process, wait_until

WRITTEN = 20000  # lines written during the outage, 1,000 at a time


@dataclass
class HeldOutage:
    log: Path
    peer: ForwardServer
    http: int  # the agent's HTTP port
    agent: subprocess.Popen  # (a test that starts the agent again puts the new one here: it is the one stopped)
    first: int  # lines a0..a<first - 1> delivered before the outage; a<first>.. written during it
    size: int  # the log's size once written to (the size the look saw)

    @property
    def journal(self) -> Path:
        return self.log.with_name("agent.err")

    def file_status(self) -> dict:
        """The log's entry in the source's /status (its first file)."""
        return (source_status(self.http).get("status", {}).get("files") or [{}])[0]


def delivered(peer: ForwardServer) -> set[tuple[str, int]]:
    """(src, n) of every record the peer stored that parsed (a glued line is a pipeline_error without them)."""
    return {(r["generic"]["src"], r["generic"]["n"]) for _t, _ts, r in list(peer.records) if "generic" in r}


@contextlib.contextmanager
def held_outage(tmp_path: Path, first: int, settle: float) -> Iterator[HeldOutage]:
    """`first` lines delivered, `settle` seconds more, then the peer frozen and WRITTEN lines written, until a look
    sees the log at its new size. The agent and the peer are stopped after (the agent given 60 s)."""
    log = tmp_path / "app.log"
    write_lines(log, "a", 0, first)
    peer = ForwardServer(port=free_port()).start()
    http = free_port()
    try:
        o = HeldOutage(log, peer, http, run_agent(write_config(tmp_path, http, [log], [("fwd", peer.port)]),
                                                  tmp_path / "agent.err"), first, 0)
        try:
            wait_until(lambda: len(delivered(peer)) == first, 60, "the first lines delivered")
            time.sleep(settle)
            peer.frozen.set()  # the outage: the reader stops at its full queue
            for start in range(first, first + WRITTEN, 1000):
                write_lines(log, "a", start, 1000)
                time.sleep(0.02)
            o.size = log.stat().st_size
            wait_until(lambda: o.file_status().get("size") == o.size, 60, "a look that sees the log grown")
            yield o
        finally:
            stop_process(o.agent, 60)
    finally:
        peer.stop()
