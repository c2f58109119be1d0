"""The checkpoint writer's worst cases at a stop, with real processes: the state_dir's filesystem frozen
(fsfreeze on a loop-mounted ext4) while outputs are wedged, while a killed writer's replacement opens the
database, and while a reload waits on it. docs/operations.md promises a stop ends within `shutdown_timeout`
+ 5 s (exit 1 naming what is read again); nothing hangs, nothing is lost, each run sends each line once.

Found (shutdown_timeout 3):
- an output wedged (an Elasticsearch that never answers) + a commit stuck: the stop took 9.0 s (the
  stuck commit's grace, then the outputs' 5 s joins; the plugins' close was allowed a second more);
  now 6.0 s: after shutdown_timeout, the grace, the outputs' close and the store's last second share 5 s;
- writer killed while frozen: its replacement hung opening the database, and the main loop with it for
  START_WAIT (30 s): the stop took 29.9 s. Now the opening is waited for like a commit, within what each
  caller may wait (the main loop: 1 s), and a stop gives it up like a stuck commit: 4.1 s;
- a SIGHUP that adds a source while a commit is stuck: the reload's load of the new source's checkpoint
  waited on the store's lock for good: the stop ended only at the thaw (systemd would SIGKILL it). Now
  the main loop's waits on the store end at a stop signal (the reload names the source not started): 4.1 s.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections import Counter

import pytest

from tests.fs_faults import frozen_able_state, lock_free
from tests.hostile_es import HostileES
from tests.support import wait_until
from tests.tail.attack_agent import Agent, append_numbered

pytestmark = pytest.mark.slow

SHUTDOWN_TIMEOUT = 3
PROMISE = SHUTDOWN_TIMEOUT + 5
SLACK = 1.0  # the process's exit on a loaded 2-core machine


def writer(agent_pid: int) -> int | None:
    """The agent's live checkpoint writer (a child of any of its threads), None if it has none."""
    for task in os.listdir(f"/proc/{agent_pid}/task"):
        try:
            with open(f"/proc/{agent_pid}/task/{task}/children") as f:
                children = f.read().split()
        except FileNotFoundError:
            continue
        for pid in children:
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    if b"checkpoint_db.py" in f.read():
                        return int(pid)
            except FileNotFoundError:
                continue
    return None


def health(agent: Agent) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{agent.port}/health", timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return 0


def in_flight(agent: Agent, source: str = "app") -> int | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{agent.port}/status", timeout=10) as r:
            return json.loads(r.read()).get("sources", {}).get(source, {}).get("in_flight_batches")
    except (OSError, ValueError):
        return None


def configure(agent: Agent, extra_sources: str = "", extra_outputs: str = "", match: str = "") -> None:
    agent.cfg.write_text(f"""
state_dir: {agent.tmp}/state
http: {{listen: "127.0.0.1:{agent.port}"}}
shutdown_timeout: {SHUTDOWN_TIMEOUT}
sources:
  - {{name: app, type: file, paths: ['{agent.tmp}/app.log'], parser: json, poll_interval: 0.2, tag: app}}
{extra_sources}
outputs:
  - {{type: stdout{match}}}
{extra_outputs}
""")


def timed_stop(agent: Agent) -> tuple[int | None, float]:
    t0 = time.monotonic()
    agent.proc.send_signal(signal.SIGTERM)
    try:
        code = agent.proc.wait(90)
    except subprocess.TimeoutExpired:
        code = None
    return code, time.monotonic() - t0


def run_seqs(agent: Agent, run: int) -> list:
    """The whole lines a run wrote (a write cut by the stop may leave a torn last line: not counted)."""
    seqs = []
    with open(agent.tmp / f"out{run}.jsonl", "rb") as f:
        for line in f:
            try:
                seqs.append(json.loads(line)["generic"]["seq"])
            except ValueError:
                assert not line.endswith(b"\n"), f"a torn line inside run {run}'s output"
    return seqs


def assert_only_unsaved_repeated(agent: Agent, saved_before: int, total: int) -> None:
    """Nothing lost; each run sends each line once; a later run repeats only lines from `saved_before` on
    (those delivered after the freeze, whose checkpoint was never saved)."""
    runs = [run_seqs(agent, i) for i in range(1, agent.runs + 1)]
    for i, seqs in enumerate(runs, 1):
        dups = [k for k, v in Counter(seqs).items() if v > 1]
        assert not dups, f"run {i} sent lines twice: {dups[:5]}"
    assert sorted(set().union(*runs)) == list(range(total)), "lines lost"
    for i, seqs in enumerate(runs[1:], 2):
        assert not [s for s in seqs if s < saved_before], f"run {i} repeated lines saved before the freeze"


def restart_and_check(agent: Agent, freeze, saved_before: int, total: int) -> None:
    freeze(False)
    wait_until(lambda: lock_free(agent.tmp / "state"), 60, "the writer left behind to end after the thaw")
    agent.start()
    assert agent.wait_delivered(range(total)), agent.errors()[-1500:]
    wait_until(lambda: in_flight(agent) == 0, 60, "everything saved")
    assert agent.stop() == 0, agent.errors()[-1500:]
    assert_only_unsaved_repeated(agent, saved_before, total)


def kill(agent: Agent | None) -> None:
    if agent is not None and agent.proc is not None and agent.proc.poll() is None:
        agent.proc.kill()
        agent.proc.wait(60)


def test_a_wedged_output_and_a_stuck_commit_stop_within_one_deadline(tmp_path):
    """An Elasticsearch that never answers a bulk request (the output's thread waits in it: a stop cannot
    end it) while the app source's commit (stdout wrote its lines) waits on the frozen state_dir."""
    hang = threading.Event()
    hang.set()
    es = HostileES(bulk=lambda srv, actions: "hang" if hang.is_set() else None)
    agent = None
    audit = tmp_path / "audit.log"
    with frozen_able_state(tmp_path) as freeze:
        try:
            append_numbered(audit, 0, 500)
            append_numbered(tmp_path / "app.log", 0, 100)
            agent = Agent(tmp_path, [tmp_path / "app.log"])
            configure(agent, match=", match: app",
                      extra_sources=f"  - {{name: audit, type: file, paths: ['{audit}'], parser: json, tag: audit}}",
                      extra_outputs=f"  - {{type: elasticsearch, hosts: ['{es.url}'], request_timeout: 120, "
                                    "flush_interval: 0.1, index: audit, match: audit}")
            agent.start()
            assert agent.wait_delivered(range(100)), agent.errors()[-1500:]
            wait_until(lambda: in_flight(agent) == 0, 60, "the first 100 lines' checkpoint saved")
            wait_until(lambda: es.bulk_calls >= 1, 60, "the Elasticsearch output waiting for its answer")
            freeze(True)
            append_numbered(tmp_path / "app.log", 100, 300)
            assert agent.wait_delivered(range(300)), agent.errors()[-1500:]  # delivered; the commit waits
            wait_until(lambda: health(agent) == 503, 60, "/health 503 while the commit is stuck")
            code, took = timed_stop(agent)
            err = agent.errors()
            assert took < PROMISE + SLACK, f"the stop took {took:.1f} s (shutdown_timeout {SHUTDOWN_TIMEOUT} + 5)"
            assert code == 1, err[-1500:]
            assert "stopping without the checkpoint commit in progress" in err and "Traceback" not in err, err[-1500:]
            hang.clear()
            restart_and_check(agent, freeze, 100, 300)
            assert sorted(d["generic"]["seq"] for d in es.docs.values()) == list(range(500)), "audit lines lost"
        finally:
            kill(agent)
            es.stop()


def test_a_replacement_writer_hanging_in_its_open_does_not_hold_the_stop(tmp_path):
    agent = None
    with frozen_able_state(tmp_path) as freeze:
        try:
            append_numbered(tmp_path / "app.log", 0, 100)
            agent = Agent(tmp_path, [tmp_path / "app.log"])
            configure(agent)
            agent.start()
            assert agent.wait_delivered(range(100)), agent.errors()[-1500:]
            wait_until(lambda: in_flight(agent) == 0, 60, "the first 100 lines' checkpoint saved")
            first = writer(agent.proc.pid)
            assert first is not None and first != agent.proc.pid and os.path.exists(f"/proc/{first}"), \
                f"no checkpoint writer process below the agent: {first}"
            freeze(True)
            subprocess.run(["kill", "-9", str(first)], check=True)  # idle: it dies (no write to wait for)
            # its replacement takes the lock and opens the database: both wait on the frozen filesystem
            wait_until(lambda: writer(agent.proc.pid) not in (None, first), 60, "a replacement writer started")
            append_numbered(tmp_path / "app.log", 100, 200)
            assert agent.wait_delivered(range(200)), agent.errors()[-1500:]
            time.sleep(3)  # the main loop's ticks meanwhile
            code, took = timed_stop(agent)
            err = agent.errors()
            assert took < PROMISE + SLACK, f"the stop took {took:.1f} s (shutdown_timeout {SHUTDOWN_TIMEOUT} + 5)"
            assert code == 1, err[-1500:]
            assert "ended (killed by SIGKILL): a new one is started" in err, err[-1500:]
            # one replacement, waited for: not a second one refused by the first's lock ("another shipper")
            assert "in use by another shipper" not in err and "did not open within" not in err, err[-1500:]
            assert "stopping without the checkpoint opening in progress" in err and "Traceback" not in err, err[-1500:]
            restart_and_check(agent, freeze, 100, 200)
        finally:
            kill(agent)


def test_a_stop_during_a_reload_that_waits_on_a_stuck_commit_wins(tmp_path):
    agent = None
    with frozen_able_state(tmp_path) as freeze:
        try:
            append_numbered(tmp_path / "app.log", 0, 100)
            append_numbered(tmp_path / "other.log", 0, 50)
            agent = Agent(tmp_path, [tmp_path / "app.log"])
            configure(agent)
            agent.start()
            assert agent.wait_delivered(range(100)), agent.errors()[-1500:]
            wait_until(lambda: in_flight(agent) == 0, 60, "the first 100 lines' checkpoint saved")
            freeze(True)
            append_numbered(tmp_path / "app.log", 100, 200)
            assert agent.wait_delivered(range(200)), agent.errors()[-1500:]  # delivered; the commit waits
            # a reload that starts a new source: its checkpoint is read from the store the commit holds
            configure(agent, extra_sources=f"  - {{name: other, type: file, paths: ['{tmp_path}/other.log'], "
                                           "parser: json, tag: other}")
            agent.proc.send_signal(signal.SIGHUP)
            wait_until(lambda: "reloading" in agent.errors(), 60, "the reload begun")
            time.sleep(2)
            code, took = timed_stop(agent)
            err = agent.errors()
            assert code is not None, "still running 90 s after SIGTERM: the reload held the stop"
            assert took < PROMISE + SLACK, f"the stop took {took:.1f} s (shutdown_timeout {SHUTDOWN_TIMEOUT} + 5)"
            assert code == 1, err[-1500:]
            assert "stopping without the checkpoint commit in progress" in err and "Traceback" not in err, err[-1500:]
            assert "reload: source not started: the agent stops" in err, err[-1500:]
            configure(agent)
            restart_and_check(agent, freeze, 100, 200)
        finally:
            kill(agent)
