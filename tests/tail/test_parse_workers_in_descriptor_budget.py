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

from pathlib import Path

import pytest

from tests.peers.forward_server import ForwardServer
from tests.support import free_port, run_under_nofile
from tests.tail.test_attack20_descriptor_exhaustion_escape_count import families, misnamed_losses, run_through_outage

pytestmark = pytest.mark.slow

SOURCES, WORKERS, LIMIT = 6, 3, 128


def test_parse_workers_leave_the_tailers_their_descriptors(tmp_path: Path) -> None:
    peer = ForwardServer(port=free_port()).start()
    cfg, writers = families(tmp_path, SOURCES, peer.port, parse_workers=WORKERS)
    agent, err = run_under_nofile(cfg, tmp_path, LIMIT)
    run_through_outage(agent, err, peer, writers)
    journal = err.read_text(errors="replace")
    assert agent.returncode == 0, journal[-3000:]
    assert "Too many open files" not in journal, [ln for ln in journal.splitlines() if "Too many open files" in ln][:3]
    assert "Traceback" not in journal, journal[-3000:]
    wrong = misnamed_losses(writers, peer, journal, unnamed_lines=True)
    assert not wrong, wrong
