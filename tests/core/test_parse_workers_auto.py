"""parse_workers: auto (the default): worker processes for a backlog only, given back when caught up and
taken again on the next backlog, one pool per two CPUs; the same events as parsing in the source's thread.
The real agent as a subprocess, as in tests/core/test_parse_workers.py (whose helpers these use; a file of
their own so that `make test` runs them beside that one)."""
from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import pytest

from tests.core.test_parse_workers import SHIPPER, comparable, datameer_config, descendants, parse_worker_pids, run_once, write_corpus
from tests.support import wait as wait_for

pytestmark = pytest.mark.slow


def auto_config(tmp_path: Path, log: Path, state: str) -> Path:
    """A Datameer source without a parse_workers key: the default, auto."""
    text = datameer_config(tmp_path, log, state, 0).read_text()
    cfg = tmp_path / f"{state}-auto.yaml"
    cfg.write_text(text.replace("    parse_workers: 0\n", ""))
    return cfg



def test_auto_uses_workers_for_a_backlog_only_and_ships_the_same_events(tmp_path):
    from shipper.parse_auto import BACKLOG_AFTER_FULL_BATCHES, usable_cpus

    big = tmp_path / "big.log"
    write_corpus(big, "datameer", 20_000, junk_every=997)
    expected, _ = run_once(datameer_config(tmp_path, big, "ref", 0))
    got, err = run_once(auto_config(tmp_path, big, "auto"))
    assert [comparable(g) for g in got] == [comparable(e) for e in expected]
    # One pool per two usable CPUs: a one-CPU host parses in the thread (and says nothing of workers).
    assert ("backlog: parsing in worker processes" in err) == (usable_cpus() >= 2), err

    # Fewer full batches in a row than a backlog takes: the source's thread parses them.
    small = tmp_path / "small.log"
    write_corpus(small, "datameer", 200 * (BACKLOG_AFTER_FULL_BATCHES - 1) + 150)
    got, err = run_once(auto_config(tmp_path, small, "small"))
    assert len(got) == 200 * (BACKLOG_AFTER_FULL_BATCHES - 1) + 150
    assert "worker processes" not in err, err



def test_auto_workers_given_back_when_caught_up_and_taken_again_on_the_next_backlog(tmp_path):
    """A daemon (not --once): a backlog starts the workers, a quiet spell ends them, a new burst
    starts them again, and through all of it every event comes out once, in order. The idle time
    is shortened in the agent process itself (30 s by default)."""
    from shipper.parse_auto import usable_cpus

    log = tmp_path / "useraction.log"
    first = write_corpus(log, "datameer", 6_000)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = auto_config(tmp_path, log, "state")
    cfg.write_text(cfg.read_text() + f"http:\n  listen: 127.0.0.1:{port}\n")
    code = ("import sys; from shipper import parse_auto; parse_auto.IDLE_SECONDS = 1.0; "
            "from shipper.cli import main; sys.argv = ['shipper', 'run', '-c', sys.argv[1]]; main()")
    agent = subprocess.Popen([sys.executable, "-c", code, str(cfg)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    err: list[bytes] = []
    out: list[bytes] = []
    threading.Thread(target=lambda: err.extend(agent.stderr), daemon=True).start()
    log_text = lambda: b"".join(err).decode()  # noqa: E731

    def parse_workers_metric() -> float | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
                text = resp.read().decode()
        except OSError:
            return None
        for line in text.splitlines():
            if line.startswith('shipper_parse_workers{source="dm"}'):
                return float(line.split()[-1])
        return None

    try:
        workers_expected = usable_cpus() >= 2
        # stdout is not read yet: the backlog waits in the agent, workers and all, for the operator to see.
        if workers_expected:
            assert wait_for(lambda: parse_workers_metric() == 2, 60), (parse_workers_metric(), log_text())
            status = subprocess.run([*SHIPPER, "status", "-c", str(cfg)], capture_output=True, text=True, timeout=60)
            assert "parsing in 2 worker processes" in status.stdout, status.stdout
        threading.Thread(target=lambda: out.extend(agent.stdout), daemon=True).start()
        assert wait_for(lambda: len(out) == 6_000, 90), (len(out), log_text())
        if workers_expected:
            assert log_text().count("backlog: parsing in worker processes") == 1, log_text()
            assert wait_for(lambda: "caught up" in log_text(), 30), log_text()
            assert wait_for(lambda: parse_worker_pids(agent.pid) == [], 30), descendants(agent.pid)
        assert wait_for(lambda: parse_workers_metric() == 0, 30), parse_workers_metric()
        # A few live lines: parsed in the thread, no workers for them.
        with open(log, "ab") as f:
            f.write(b"\n".join(first[:50]) + b"\n")
        assert wait_for(lambda: len(out) == 6_050, 30), len(out)
        assert log_text().count("backlog: parsing in worker processes") == int(workers_expected)
        # A new burst: workers again.
        with open(log, "ab") as f:
            f.write(b"\n".join(first) + b"\n")
        assert wait_for(lambda: len(out) == 12_050, 90), (len(out), log_text())
        assert log_text().count("backlog: parsing in worker processes") == 2 * int(workers_expected), log_text()
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(60) == 0, log_text()
    finally:
        if agent.poll() is None:
            agent.kill()
    # The same bytes read in one go by a thread-only agent: the reference, event for event.
    ref_log = tmp_path / "ref.log"
    ref_log.write_bytes(b"\n".join(first + first[:50] + first) + b"\n")
    expected, _ = run_once(datameer_config(tmp_path, ref_log, "ref", 0))
    assert len(expected) == 12_050
    strip_path = lambda ev: {**ev, "log": None}  # noqa: E731  (the two files' paths differ)
    assert [strip_path(comparable(g)) for g in out] == [strip_path(comparable(e)) for e in expected]



def test_pool_budget_one_pool_per_two_cpus_and_none_on_one():
    from shipper.parse_auto import PoolBudget

    for cpus, pools in ((1, 0), (2, 1), (3, 1), (8, 4)):
        budget = PoolBudget(cpus)
        taken = sum(budget.take() for _ in range(10))
        assert taken == pools, cpus
        budget.give_back()
        assert budget.take() == (pools > 0)

