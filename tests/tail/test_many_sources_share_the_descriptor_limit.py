"""Several file sources under one low descriptor limit (the lead, session 21, issue 13: "many sources under
`prlimit --nofile`" was left open). Each source sized its budgets from the whole limit — its tailer half of it, its
holder a quarter — so eight sources took up to six times the limit:
- eight sources of 40 busy files each under `--nofile=256`, the output up throughout: opens failed with EMFILE
  (`cannot read … [Errno 24] Too many open files`), 4,100 of 6,400 lines delivered in 90 s;
- eight sources of one log each, rotated by rename (one backup kept) while the output was down, under `--nofile=128`:
  the eight holders held 128 files, and the output, back, never connected again (`[Errno 24] Too many open files`):
  0 of 16,000 lines delivered in 90 s, a wedge.
Fixed: the tailers share half of the limit and the holders a quarter, across the process (shipper/tail/descriptors.py
fd_budget, shipper/tail/holder.py process_hold_budget); what the holders cannot hold is named lost.
Then every line was delivered, but 64 of the 320 files (and 26-128 of one source's 200 under `--nofile=128`) were
named `data lost: … were in 1 rotated file(s) that appeared and were gone before they could be held (the hold budget
was full …)` though none rotated or went: the holder, full, left each new file's creation owed until it saw the
tailer have the file open, and the tailer, over its budget, had opened and closed it in between. Fixed: a file the
tailer opened is met (Holder.tailer_opened)."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from tests.e2e.fluentd_agent import run_agent
from tests.peers.forward_server import ForwardServer
from tests.support import stop_process, wait
from tests.tail.attack_agent import free_port

pytestmark = pytest.mark.slow  # (prlimit: util-linux, installed by scripts/install-test-deps.sh)


def config(tmp_path: Path, port: int, paths: list[str]) -> Path:
    """A file source s<i> over each of `paths` (json, from the beginning), one Fluentd output to `port`."""
    (tmp_path / "state").mkdir()
    cfg = {"state_dir": str(tmp_path / "state"), "shutdown_timeout": 5,
           "sources": [{"name": f"s{i}", "type": "file", "paths": [p], "parser": "json", "read_from": "beginning"}
                       for i, p in enumerate(paths)],
           "outputs": [{"type": "fluentd", "host": "127.0.0.1", "port": port}]}
    path = tmp_path / "cfg.yaml"
    path.write_text(json.dumps(cfg))  # JSON is YAML
    return path


def stored(peer: ForwardServer) -> set[tuple[str, int]]:
    return {(r["generic"]["src"], r["generic"]["n"]) for _, _, r in list(peer.records)}


@pytest.mark.parametrize("sources,files,limit", [(8, 40, 256), (1, 200, 128)])
def test_many_busy_files_stay_within_the_limit_and_none_is_named_lost(tmp_path, sources, files, limit):
    rounds = 20
    logs = tmp_path / "logs"
    for i in range(sources):
        (logs / f"s{i}").mkdir(parents=True)
    peer = ForwardServer(port=free_port())
    peer.start()
    cfg = config(tmp_path, peer.port, [str(logs / f"s{i}" / "*.log") for i in range(sources)])
    err = tmp_path / "agent.err"
    agent = run_agent(cfg, err, prefix=["prlimit", f"--nofile={limit}:{limit}", "--"])
    try:
        for n in range(rounds):
            for i in range(sources):
                for k in range(files):
                    with open(logs / f"s{i}" / f"f{k}.log", "a") as f:
                        f.write(json.dumps({"src": f"{i}/{k}", "n": n, "message": "x" * 100}) + "\n")
            time.sleep(0.05)
        total = sources * files * rounds
        wait(lambda: len(stored(peer)) >= total, 120, every=0.5)
    finally:
        stop_process(agent, 60)
        peer.stop()
    journal = err.read_text()
    assert len(stored(peer)) == total, f"{len(stored(peer))} of {total} delivered:\n{journal[-3000:]}"
    assert "Too many open files" not in journal, journal[-3000:]
    false = [line for line in journal.splitlines() if "data lost" in line]  # (no file went)
    assert not false, f"{len(false)} files named lost, none went:\n" + "\n".join(false[:5])


def test_eight_holders_leave_the_output_its_descriptors(tmp_path):
    sources, per = 8, 2000
    logs = tmp_path / "logs"
    logs.mkdir()
    peer = ForwardServer(port=free_port())  # down while the logs rotate
    cfg = config(tmp_path, peer.port, [str(logs / f"a{i}.log") for i in range(sources)])
    err = tmp_path / "agent.err"
    agent = run_agent(cfg, err, prefix=["prlimit", "--nofile=128:128", "--"])
    try:
        out = [open(logs / f"a{i}.log", "a") for i in range(sources)]
        sizes = [0] * sources
        for n in range(per):  # ~20 KB files, one backup kept: each rotation deletes the backup before it
            for i in range(sources):
                line = json.dumps({"src": str(i), "n": n, "message": "x" * 200}) + "\n"
                out[i].write(line)
                out[i].flush()
                sizes[i] += len(line)
                if sizes[i] > 20_000:
                    out[i].close()
                    os.replace(logs / f"a{i}.log", logs / f"a{i}.log.1")
                    out[i], sizes[i] = open(logs / f"a{i}.log", "a"), 0
            if n % 100 == 0:
                time.sleep(0.02)  # (the holders see the rotations as they come)
        for f in out:
            f.close()
        peer.start()
        last = {(str(i), per - 1) for i in range(sources)}  # each log's last line: in its live file, never lost
        delivered = wait(lambda: last <= stored(peer), 90, every=0.5)
    finally:
        stop_process(agent, 60)
        peer.stop()
    journal = err.read_text()
    got = stored(peer)
    assert delivered, f"{len(got)} of {sources * per} delivered after the output came back:\n{journal[-3000:]}"
    assert "Too many open files" not in journal, journal[-3000:]
    missing = {str(i) for i in range(sources) for n in range(per) if (str(i), n) not in got}
    named = [line for line in journal.splitlines() if "data lost" in line]
    for i in missing:  # what the holders could not keep is named, log by log
        assert any(f"/a{i}.log" in line for line in named), f"a{i}.log lost lines unnamed:\n{journal[-3000:]}"
