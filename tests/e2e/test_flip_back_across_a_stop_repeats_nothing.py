"""An output flipped to another server by a reload and back by a start, with a stop between (issue 23, the limit
session 19 left in docs/operations.md: "A stop between the two reloads forgets that memory").

Output `out` is a Fluentd server, down with 600 lines in flight. A SIGHUP makes `out` an Elasticsearch output (down
too); within that reload's wait the Fluentd server comes back and the old output delivers what it held (lines
300-899), which the re-read owes the new `out`. The agent is stopped before Elasticsearch stored any of it (exit 1:
batches undelivered), and started again with the change undone: `out` is that Fluentd server again. The re-read from
the checkpoint (line 300) must not send it lines 300-899 again: it stored them during the first reload's wait.
Until session 20 the note of what the old server stored then lived in memory only, and the start sent those 600 lines
to it a second time without a word (600 lines twice, 3 of 3 runs before the fix).
"""
from __future__ import annotations

import os
import signal
from collections import Counter
from pathlib import Path

from tests.e2e.fluentd_agent import run_agent
from tests.e2e.test_attack17_output_flip_back_repeats import _append, _events_read
from tests.peers.bulk_server import BulkServer
from tests.peers.forward_server import ForwardServer
from tests.support import wait
from tests.tail.attack_agent import free_port


def test_flip_output_back_across_a_stop_repeats_nothing_at_the_server(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    fluentd = ForwardServer().start()
    es = BulkServer(flavour="es8").start()
    es.stop()  # down: the re-read for it delivers nothing before the stop
    http_port = free_port()
    head = f"""state_dir: {tmp_path / 'state'}
shutdown_timeout: 10
http:
  listen: 127.0.0.1:{http_port}
sources:
  - name: a
    type: file
    paths: [{log}]
    parser: datameer
    read_from: beginning
outputs:
"""
    to_fluentd = head + f"""  - type: fluentd
    name: out
    host: 127.0.0.1
    port: {fluentd.port}
    flush_interval: 0.2
    backoff_max: 1
"""
    to_es = head + f"""  - type: elasticsearch
    name: out
    hosts: [{es.url}]
    flush_interval: 0.2
    backoff_max: 1
"""
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(to_fluentd)
    err = tmp_path / "agent.err"
    journal = lambda: err.read_text(errors="replace")  # noqa: E731

    agent = run_agent(cfg, err, timeout=120)
    try:
        _append(log, 0, 300)
        assert fluentd.wait_for_records(300, 60), journal()
        fluentd.stop()  # the outage
        _append(log, 300, 600)
        assert wait(lambda: _events_read(http_port) >= 900, 60), "the source did not read lines 300-899"
        cfg.write_text(to_es)
        os.kill(agent.pid, signal.SIGHUP)
        assert wait(lambda: "deliver their in-flight batches first" in journal(), 60), journal()
        fluentd.start()  # back within the reload's wait: the old output delivers lines 300-899
        assert wait(lambda: "msg=reloaded" in journal(), 60), journal()
        assert len(fluentd.records) == 900, f"{len(fluentd.records)} lines at Fluentd: the attack did not take"
        os.kill(agent.pid, signal.SIGTERM)
        assert agent.wait(60) == 1, journal()  # Elasticsearch down: the re-read for it undelivered
        cfg.write_text(to_fluentd)  # the change undone while the agent was stopped
        agent = run_agent(cfg, err, timeout=120)
        _append(log, 900, 300)
        assert wait(lambda: {r["datameer"]["file_path"] for _, _, r in list(fluentd.records)} >= {
            f"/f/a/{k}" for k in range(900, 1200)}, 90), journal()
        os.kill(agent.pid, signal.SIGTERM)
        assert agent.wait(60) == 0, journal()
    finally:
        if agent.poll() is None:
            agent.kill()
            agent.wait()
        fluentd.stop()
        es.stop()

    said = journal()
    copies = Counter(r["datameer"]["file_path"] for _, _, r in fluentd.records)
    repeated = sorted(int(p.rsplit("/", 1)[1]) for p, c in copies.items() if c > 1)
    assert len(copies) == 1200, f"{1200 - len(copies)} lines missing at Fluentd\n{said}"
    assert not repeated, f"{len(repeated)} lines twice at the Fluentd server ({repeated[:3]}…)\n{said}"
    assert "noted for the output storing there now" in said, said
