"""Examiner exam23b (session 21, docs only): a reload moving an Elasticsearch output off a hung node repeats unnamed.

docs/operations.md: a reload gives a closing output's send in progress a grace (up to 5 s); "a wedged output is cut
when the grace ends, named as at any stop (`fluentd output closed while a chunk … waited for its ack … (a possible
repeat …)`)", and a send given up on that is acknowledged after all is named a possible repeat. For Fluentd that
holds (exam23b checked it: a frozen in_forward, `out` switched to Elasticsearch, 200 events named).

For Elasticsearch it does not: the node stores a `_bulk` request's documents and does not answer (a node stuck in
GC or behind a proxy holding the answer: the strict peer's `answer_delay`), a reload changes the output's `hosts` to
another cluster. The agent waits its grace, cuts the request, and the restarted source reads those events again for
the new cluster: 200 events (one request) are stored in both clusters, 2 of 2 runs, and the journal says only
`reload: in-flight batches not delivered in time …` and `reload: the source restarts once the batches its outputs are
sending complete` — no possible repeat, no count. (A stop in the same state exits 1 saying the batches are read
again, also without saying that the node may have stored the request in progress.) Expected: the request cut by the
grace named as Fluentd's chunk is — the node may have stored it, a possible repeat of N events.
Fixed (the lead): the output's close names a _bulk request it cut waiting for its answer, with its count (refused as
duplicates by the same cluster, stored again by another).
"""
from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from tests.peers.bulk_server import BulkServer


def _line(n: int) -> bytes:
    return orjson.dumps({"timestamp": "2026-01-02 03:04:05", "action-type": "FILESYSTEM", "action": "EDIT",
                         "performing-user": f"u{n}", "file-path": f"/f/{n}"}) + b"\n"


def _config(d: Path, log: Path, url: str) -> str:
    return (f"state_dir: {d}/state\nshutdown_timeout: 5\nsources:\n  - name: s\n    type: file\n"
            f"    paths: ['{log}']\n    parser: datameer\n    batch_size: 200\n    parse_workers: 0\n"
            f"outputs:\n  - name: es\n    type: elasticsearch\n    hosts: ['{url}']\n    flush_interval: 0.1\n"
            f"    batch_size: 200\n    request_timeout: 120\n")


def _names(node: BulkServer) -> set[str]:
    with node._lock:
        return {d.get("user", {}).get("name") for d in node.docs.values()}


def _wait(cond, timeout: float, what: str, journal) -> None:
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            pytest.fail(f"{what}; journal: {journal()[-2000:]}")
        time.sleep(0.05)


def test_a_bulk_request_cut_by_a_reload_is_named_a_possible_repeat(tmp_path):
    old, new = BulkServer().start(), BulkServer().start()
    log = tmp_path / "app.log"
    log.write_bytes(b"".join(_line(i) for i in range(1000)))
    cfg, err = tmp_path / "c.yaml", tmp_path / "agent.log"
    cfg.write_text(_config(tmp_path, log, old.url))
    with open(err, "wb") as se:
        agent = subprocess.Popen([sys.executable, "-m", "shipper.cli", "run", "-c", str(cfg)],
                                 stdout=subprocess.DEVNULL, stderr=se)

    def journal() -> str:
        return err.read_text(errors="replace")

    try:
        _wait(lambda: len(_names(old)) >= 1000, 60, "the first 1,000 lines were not stored", journal)
        old.answer_delay = 90  # stores each request's documents, answers 90 s later
        with open(log, "ab") as f:
            f.write(b"".join(_line(i) for i in range(1000, 2000)))
        _wait(lambda: len(_names(old)) >= 1200, 60, "the hung node got no request", journal)
        cfg.write_text(_config(tmp_path, log, new.url))
        agent.send_signal(signal.SIGHUP)
        _wait(lambda: "msg=reloaded" in journal(), 60, "the reload did not end", journal)
        _wait(lambda: len(_names(new)) >= 1000, 60, "the new cluster did not get the rest", journal)
        time.sleep(1)
    finally:
        agent.send_signal(signal.SIGTERM)
        try:
            agent.wait(60)
        except subprocess.TimeoutExpired:
            agent.kill()
            agent.wait()
        old.answer_delay = 0
        old.stop()
        new.stop()
    in_old, in_new = _names(old), _names(new)
    assert {f"u{i}" for i in range(2000)} <= in_old | in_new, "a line was lost"
    both = len(in_old & in_new)
    if both:
        named = [ln for ln in journal().splitlines() if "possible repeat" in ln]
        assert named, f"{both} events stored by both clusters, no possible repeat named"
        assert any(re.search(rf"\b{both}\b", ln) for ln in named), (both, named)
