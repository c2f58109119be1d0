"""Parse workers in the descriptor budget (issue 13; fix13r noticed, session 24): each worker process keeps three
descriptors in the agent (its pipe, its process sentinel, the forkserver's connection), and the pool two more (the
forkserver's alive pipe, the resource tracker's), but what the tailers and holders may keep open (shipper.fdlimit.kept:
what the limit leaves after the agent, its outputs and its sources) counted none of them. Sources with `parse_workers`
under a low limit then took the descriptors the tailers and holders were promised.

Six file sources with `parse_workers: 3` (18 workers, ~56 descriptors) under `prlimit --nofile=128`, each over a log
rotated by rename with one backup, the Fluentd output down for 15 s (the harness of
test_attack20_descriptor_exhaustion_escape_count.py). Every line is delivered or its loss named with the right count,
and the agent never meets EMFILE (no "Too many open files", no traceback).

On main before the fix (1 of 1): the 18 workers started, the Fluentd output could not connect again after the outage
(`[Errno 24] Too many open files`) and nothing more was delivered; the stop ended with batches undelivered, exit 1.
Now the workers get at most a quarter of what the limit leaves past the sources, outputs and agent (here 3 workers,
the others' sources parse in the agent, each said once), and the tailers' budget is counted past them.
"""
from __future__ import annotations

import collections
import time
from pathlib import Path

import pytest

from tests.peers.forward_server import ForwardServer
from tests.support import free_port, run_under_nofile, stop_process, wait
from tests.tail.test_attack20_descriptor_exhaustion_escape_count import _named_bounds, _Writer

pytestmark = pytest.mark.slow

SOURCES, WORKERS, LIMIT = 6, 3, 128


def test_parse_workers_leave_the_tailers_their_descriptors(tmp_path: Path) -> None:
    logs, state = tmp_path / "logs", tmp_path / "state"
    state.mkdir()
    port = free_port()
    peer = ForwardServer(port=port).start()
    names = [f"s{i}" for i in range(SOURCES)]
    for n in names:
        (logs / n).mkdir(parents=True)
    cfg = {"state_dir": str(state), "shutdown_timeout": 5,
           "sources": [{"name": n, "type": "file", "paths": [str(logs / n / "app.log")], "parser": "json",
                        "parse_workers": WORKERS} for n in names],
           "outputs": [{"type": "fluentd", "host": "127.0.0.1", "port": port, "flush_interval": 0.2}]}
    agent, err = run_under_nofile(cfg, tmp_path, LIMIT)
    writers = [_Writer(logs / n, n) for n in names]
    try:
        assert wait(lambda: "level=info" in err.read_text(errors="replace") or agent.poll() is not None, 60,
                    every=0.5), err.read_text()
        for w in writers:
            w.start()
        time.sleep(6)
        peer.stop()
        time.sleep(15)
        peer.start()
        time.sleep(6)
        for w in writers:
            w.halt.set()
            w.join()

        def settled() -> bool:
            got = {(r.get("generic") or {}).get("n") for _, _, r in list(peer.records)}
            return len(got) >= sum(w.written for w in writers) or agent.poll() is not None

        wait(settled, 90, every=0.5)
        count = -1
        while count != len(peer.records) and agent.poll() is None:  # the catch-up ended: two looks 5 s apart agree
            count = len(peer.records)
            time.sleep(5)
    finally:
        stop_process(agent, 60)
        peer.stop()
    journal = err.read_text(errors="replace")
    assert agent.returncode == 0, journal[-3000:]
    assert "Too many open files" not in journal, [ln for ln in journal.splitlines() if "Too many open files" in ln][:3]
    assert "Traceback" not in journal, journal[-3000:]
    delivered: dict[str, set[int]] = collections.defaultdict(set)
    for _, _, r in peer.records:
        g = r.get("generic") or {}
        delivered[str(g.get("src"))].add(int(g.get("n", -1)))
    wrong = {}
    for w in writers:
        lost = w.whole_files_lost(delivered[w.name])
        low, high = _named_bounds(journal, f"/{w.name}/app.log")
        missing = w.written - len(delivered[w.name])
        if not low <= lost <= high or (missing and not high):
            wrong[w.name] = f"{missing} lines missing, {lost} whole files lost, named {low}..{high}"
    assert not wrong, wrong
