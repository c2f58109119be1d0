"""Attack 28 (exam28): a second signal while a Fluentd output's batch is half acknowledged. The source reads 200 lines
as one batch; the output sends it as four chunks of `batch_size` 50, and in_forward acknowledges them one by one
(slowly: a loaded Fluentd, its buffer flushing). Three chunks are acknowledged (stored for certain), the fourth waits
for its ack, when the operator's second SIGTERM comes. The exit names only the fourth: `output fluentd: the agent
exits while a chunk of 50 events written whole …, waiting for its ack … (a possible repeat)`. The batch's checkpoint
waits for all four chunks, so the next start reads and sends all 200 again: 150 events the server had acknowledged
are stored twice, named nowhere. The single-signal stop, cut by `shutdown_timeout` at the same moment, notes what the
output stored (`_delivered_to`: the next start says `events this output stored before the last stop … are not sent
to it again … events=150`) and repeats only the 50 it named. By hand 2 of 2: 200 repeated with 50 named (chunks of
50), 300 repeated with 100 named (chunks of 100). What should hold: a second signal names every event it leaves to
be sent again that an output may already have stored (or notes the acknowledged chunks, as a stop does)."""
from __future__ import annotations

import json
import re
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from tests.journal_sinks import SHIPPER, numbered
from tests.peers.forward_server import ForwardServer
from tests.support import stop_process, stop_twice, wait, wait_until

pytestmark = pytest.mark.slow  # (acks seconds apart, two agents)


def test_a_second_signal_names_the_acknowledged_chunks_of_its_unfinished_batch(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "a.log").write_text(numbered(0, 200))
    peer = ForwardServer(mode="delay_ack", ack_delay=3.0).start()
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(json.dumps({"state_dir": str(tmp_path / "state"), "shutdown_timeout": 20,
                               "sources": [{"name": "app", "type": "file", "paths": [str(logs / "*.log")],
                                            "parser": "json", "poll_interval": 0.2}],
                               "outputs": [{"type": "fluentd", "host": "127.0.0.1", "port": peer.port,
                                            "flush_interval": 0.2, "batch_size": 50}]}))
    err = tmp_path / "first.err"
    try:
        with open(err, "wb") as e:
            agent = subprocess.Popen([SHIPPER, "run", "-c", str(cfg)], stdout=subprocess.DEVNULL, stderr=e)
        try:
            wait_until(lambda: peer.acks >= 3, 90, "three chunks acknowledged")
            peer.mode = "no_ack"  # the fourth's ack, if not on its way already, never comes
            stop_twice(agent)  # the operator does not wait
        finally:
            if agent.poll() is None:
                stop_process(agent, 30)
        assert wait(lambda: len(peer.records) >= 200, 10), f"{len(peer.records)} events stored"
        stored_before = len(peer.records)
        peer.mode = "ack"
        done = subprocess.run([SHIPPER, "run", "--once", "-c", str(cfg)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, timeout=120)
        assert done.returncode == 0, done.stderr.decode()[-800:]
        counts = Counter(rec["generic"]["n"] for _, _, rec in peer.records)
    finally:
        peer.stop()
    assert set(counts) == set(range(200)), "events missing"
    repeated = sum(n - 1 for n in counts.values())
    journal = err.read_text()
    named = sum(int(n) for n in re.findall(r"(\d+) events[^\n]*\brepeat\b", journal))
    assert repeated <= named, (f"{repeated} events stored twice ({stored_before} stored at the exit), {named} named "
                               f"as a possible repeat: "
                               + "\n".join(ln[:300] for ln in journal.splitlines() if "level=info" not in ln))
