"""The size a look saw a log at (FileState.looked, shipper/tail/looks.py) is what tells, after a restart, that the log
was cut in place above what was read: the read that ends short of it names the bytes in between lost. It reached the
checkpoint only with a delivered batch, or with a stop's save of what it did not deliver. Two ways it went unsaved,
and the cut unsaid (issue 13, session 27's look13 report):

- a stop with everything delivered: the output came back during the stop's wait, the batch the reader was held in was
  delivered, and its checkpoint held the size looked at before the reader was held; the looks while held saw the log
  grown since, and nothing saved that (with a holder, the stop's save of each file's size now flushed the state, and
  with it the size looked at; with `hold_max_files: 0` nothing did);
- a kill -9 during an outage: nothing delivered, nothing saved at a stop; the looks while held saw the log grown
  (now saved at once, in a `looked:` entry: looks.to_keep).

Then the log cut in place above the read position (`truncate -s` to a size limit) while the agent was away: the
restarted agent read on to the cut as if the log had only grown less: 2,500 lines cut away unread and no word.
"""
from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from tests.e2e.fluentd_agent import run_agent, source_status, write_config, write_lines
from tests.peers.forward_server import ForwardServer
from tests.support import free_port, stop_process, wait_until

pytestmark = pytest.mark.slow  # (an agent twice, 2 MB held back behind a frozen peer)


def _delivered(peer: ForwardServer) -> set[tuple[str, int]]:
    return {(r["generic"]["src"], r["generic"]["n"]) for _t, _ts, r in list(peer.records) if "generic" in r}


@pytest.mark.parametrize(("how", "hold"), [("stop_with_everything_delivered", 0), ("stop_with_everything_delivered", 256),
                                           ("kill9_during_the_outage", 256), ("kill9_during_the_outage", 0)])
def test_a_cut_above_the_read_position_while_away_is_named(tmp_path: Path, how: str, hold: int) -> None:
    log = tmp_path / "app.log"
    journal = tmp_path / "agent.err"
    write_lines(log, "a", 0, 100)
    peer = ForwardServer(port=free_port()).start()
    http = free_port()
    cfg = write_config(tmp_path, http, [log], [("fwd", peer.port)])
    config = json.loads(cfg.read_text())
    config["sources"][0]["hold_max_files"] = hold  # (0: no holder, whose stop saves the size each file has now)
    cfg.write_text(json.dumps(config))
    agent = run_agent(cfg, journal)
    try:
        wait_until(lambda: len(_delivered(peer)) == 100, 60, "the first lines delivered")
        time.sleep(1.0)
        peer.frozen.set()  # the outage: the reader is held at its full queue
        for start in range(100, 20100, 1000):
            write_lines(log, "a", start, 1000)
            time.sleep(0.02)

        def seen() -> dict:
            return (source_status(http).get("status", {}).get("files") or [{}])[0]
        held = log.stat().st_size
        wait_until(lambda: seen().get("size") == held, 60, "a look that sees the log grown")
        position = seen()["position"]
        time.sleep(2.0)
        assert seen()["position"] == position < held, "the reader is not held"
        # Written on while the reader is held: only the looks while held see these (no batch made since carries them)
        for start in range(20100, 25100, 1000):
            write_lines(log, "a", start, 1000)
        size = log.stat().st_size
        wait_until(lambda: seen().get("size") == size, 60, "a look that sees the log grown")
        time.sleep(2.5)  # (the looks while the reader is held, about once a second, see it too)
        if how == "stop_with_everything_delivered":
            agent.send_signal(signal.SIGTERM)
            time.sleep(0.5)
            peer.frozen.clear()  # back within the stop's wait: what is in flight is delivered
            assert agent.wait(60) == 0, journal.read_text()[-3000:]
            stopping = journal.read_text()
            assert "undelivered" not in stopping and "not delivered" not in stopping, stopping[-3000:]
        else:
            agent.kill()
            agent.wait(60)
        data = log.read_bytes()
        cut = data.rfind(b"\n", 0, (held + size) // 2) + 1
        assert position < held < cut < size, (position, held, cut, size)
        os.truncate(log, cut)  # trimmed while the agent is away, above what was read
        peer.frozen.clear()
        agent = run_agent(cfg, journal)
        write_lines(log, "a", 30000, 10)
        wait_until(lambda: {("a", n) for n in range(30000, 30010)} <= _delivered(peer), 180, "the lines after the cut")
        time.sleep(2.0)  # a late warning, if any
    finally:
        stop_process(agent, 60)
        peer.stop()
    text = journal.read_text()
    missing = {("a", n) for n in range(25100)} - _delivered(peer)
    assert missing, "every line was delivered: the premise (lines cut away unread) did not occur"
    named = [ln for ln in text.splitlines() if "data lost" in ln and "app.log" in ln]
    assert named and any("cut in place above what had been read" in ln for ln in named), (
        f"{len(missing)} lines cut away unread (from {min(missing)}); said: "
        f"{[ln.split('msg=')[1][:200] for ln in text.splitlines() if 'lost' in ln or 'truncat' in ln]}")
    assert len(named) == 1, named  # (named once: not again at the stop after it)
