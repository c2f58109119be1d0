"""Black-box attack 5: the state_dir's filesystem is frozen (`fsfreeze -f`: what LVM snapshots and a VM
snapshot's guest agent do for a backup; a hung backup leaves it frozen for minutes). Every write to it blocks
in the kernel, and no signal (not even SIGKILL) wakes the thread: the checkpoint commit waits, reading stops.
Found (2 runs of 2 by hand, shutdown_timeout 20): /health still answered 200 "ok", and a stop (`systemctl
stop`, a reboot) was still running 40 s after SIGTERM; it ended only when the filesystem was thawed (systemd
would SIGKILL it at TimeoutStopSec, and a process with a thread asleep in such a write cannot even be reaped).
docs/operations.md promises a stop ends within `shutdown_timeout` + 5 s (exit 1 when batches were left
undelivered).

Fixed: the database is written by a process of its own (shipper.checkpoint_db); the agent leaves it behind
at a stop, says so, exits 1, and what was not saved is read again at the next start. /health answers 503
naming the commit that has not returned. The state_dir here is a small ext4 image mounted through a loop
device."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest

from tests.fs_faults import frozen_able_state, lock_free
from tests.support import wait_until
from tests.tail.attack_agent import Agent, append_numbered

pytestmark = pytest.mark.slow

SHUTDOWN_TIMEOUT = 3
STOP_PROMISE = SHUTDOWN_TIMEOUT + 5
LOADED = 12  # seconds more for a loaded 2-core machine


def all_saved(agent: Agent) -> bool:
    """Every batch acknowledged and its checkpoint committed (in flight counts one while a commit waits)."""
    return agent.get("/status")[1].get("sources", {}).get("app", {}).get("in_flight_batches") == 0


def run_seqs(agent: Agent, run: int) -> list:
    with open(agent.tmp / f"out{run}.jsonl", "rb") as f:
        return [json.loads(line)["generic"]["seq"] for line in f if line.endswith(b"\n")]


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


def start(tmp_path, log) -> Agent:
    agent = Agent(tmp_path, [log])
    agent.cfg.write_text(agent.cfg.read_text().replace("shutdown_timeout: 20", f"shutdown_timeout: {SHUTDOWN_TIMEOUT}"))
    agent.start()
    return agent


def stop_in_time(agent: Agent) -> str:
    """SIGTERM; the agent ends within the promise, exit 1, saying why; its stderr."""
    t0 = time.monotonic()
    agent.proc.send_signal(signal.SIGTERM)
    try:
        code = agent.proc.wait(STOP_PROMISE + LOADED)
    except subprocess.TimeoutExpired:
        code = None
    took = time.monotonic() - t0
    err = agent.errors()
    assert code is not None, f"still running {STOP_PROMISE + LOADED} s after SIGTERM, until the thaw"
    assert code == 1, err
    assert "stopping without the checkpoint commit in progress" in err, err
    assert "is read and sent again at the next start" in err and "Traceback" not in err, err
    assert took < STOP_PROMISE + LOADED
    return err


def test_stop_while_state_filesystem_frozen_ends_in_time(tmp_path):
    agent = None
    with frozen_able_state(tmp_path) as freeze:
        try:
            logs = tmp_path / "logs"
            logs.mkdir()
            log = logs / "app.log"
            append_numbered(log, 0, 100)
            agent = start(tmp_path, log)
            assert agent.wait_delivered(range(100))
            wait_until(lambda: all_saved(agent), 60, "the first 100 lines' checkpoint saved")
            assert agent.get("/health")[0] == 200
            freeze(True)
            for k in range(10):  # batches whose checkpoint commits now wait for the filesystem
                append_numbered(log, 100 + 20 * k, 120 + 20 * k)
                time.sleep(0.3)
            # /health names the commit that does not return (503), within its threshold (10 s) and a margin
            wait_until(lambda: agent.get("/health")[0] == 503, 60, "/health 503 while the commit is stuck")
            code, doc = agent.get("/health")
            assert "checkpoints.sqlite has not returned for" in doc.get("checkpoints", ""), doc
            assert "frozen" in doc["reason"], doc
            # status does not wait on the frozen filesystem: it shows the snapshot written before the freeze
            st = subprocess.run([sys.executable, "-m", "shipper.cli", "status", "--json", "-c", str(agent.cfg)],
                                capture_output=True, timeout=60)
            assert st.returncode == 0, st.stderr.decode()
            assert json.loads(st.stdout)["saved"]["from"] == "snapshot", st.stdout
            stop_in_time(agent)
            freeze(False)
            wait_until(lambda: lock_free(tmp_path / "state"), 60, "the writer left behind to end after the thaw")
            agent.start()  # nothing lost: what was not saved is read again
            assert agent.wait_delivered(range(300))
            wait_until(lambda: all_saved(agent), 60, "everything saved")
            assert agent.stop() == 0
            assert_only_unsaved_repeated(agent, 100, 300)
        finally:
            if agent is not None and agent.proc is not None and agent.proc.poll() is None:
                agent.proc.kill()
                agent.proc.wait(60)


def test_frozen_during_the_first_commit(tmp_path):
    """Frozen before anything was ever saved: the stop ends in time, the next start ships everything."""
    agent = None
    with frozen_able_state(tmp_path) as freeze:
        try:
            log = tmp_path / "app.log"
            log.touch()
            agent = start(tmp_path, log)
            freeze(True)
            append_numbered(log, 0, 200)
            assert agent.wait_delivered(range(200))
            wait_until(lambda: agent.get("/health")[0] == 503, 60, "/health 503 while the commit is stuck")
            stop_in_time(agent)
            freeze(False)
            wait_until(lambda: lock_free(tmp_path / "state"), 60, "the writer left behind to end after the thaw")
            agent.start()
            assert agent.wait_delivered(range(200))
            wait_until(lambda: all_saved(agent), 60, "everything saved")
            assert agent.stop() == 0
            assert_only_unsaved_repeated(agent, 0, 200)
        finally:
            if agent is not None and agent.proc is not None and agent.proc.poll() is None:
                agent.proc.kill()
                agent.proc.wait(60)


def test_frozen_then_kill_9_then_thaw_and_restart(tmp_path):
    """kill -9 while a commit waits on the frozen filesystem: the agent's pid ends at once (only its writer
    waits for the thaw); after the thaw and a restart nothing is lost and only what was unsaved is repeated."""
    agent = None
    with frozen_able_state(tmp_path) as freeze:
        try:
            log = tmp_path / "app.log"
            append_numbered(log, 0, 100)
            agent = start(tmp_path, log)
            assert agent.wait_delivered(range(100))
            wait_until(lambda: all_saved(agent), 60, "the first 100 lines' checkpoint saved")
            freeze(True)
            append_numbered(log, 100, 250)
            assert agent.wait_delivered(range(250))  # delivered, not saved
            agent.proc.kill()
            agent.proc.wait(LOADED)
            freeze(False)
            wait_until(lambda: lock_free(tmp_path / "state"), 60, "the writer left behind to end after the thaw")
            append_numbered(log, 250, 300)
            agent.start()
            assert agent.wait_delivered(range(300))
            wait_until(lambda: all_saved(agent), 60, "everything saved")
            assert agent.stop() == 0
            assert_only_unsaved_repeated(agent, 100, 300)
        finally:
            if agent is not None and agent.proc is not None and agent.proc.poll() is None:
                agent.proc.kill()
                agent.proc.wait(60)


def test_run_once_ends_while_frozen(tmp_path):
    """`run --once` whose commits stop returning gives up after its commit budget (10 s) and exits 1; one
    started on a frozen state_dir exits 2 naming it (its database cannot even be opened within
    SHIPPER_STATE_OPEN_SECONDS). Neither hangs."""
    with frozen_able_state(tmp_path) as freeze:
        log = tmp_path / "app.log"
        append_numbered(log, 0, 3000)
        agent = Agent(tmp_path, [log])
        cmd = [sys.executable, "-m", "shipper.cli", "run", "--once", "-c", str(agent.cfg)]
        # stdout a pipe read only after the freeze: what is delivered then waits for a commit
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            first = os.read(p.stdout.fileno(), 4096)  # not p.stdout.read: communicate() skips its buffer
            wait_until(lambda: (tmp_path / "state" / "checkpoints.sqlite").exists(), 60, "the database made")
            freeze(True)
            t0 = time.monotonic()
            out, err = p.communicate(timeout=60)
            took = time.monotonic() - t0
        finally:
            if p.poll() is None:
                p.kill()
                p.wait(60)
        err = err.decode()
        assert p.returncode == 1, err
        assert "has not returned for" in err and "stopping without the checkpoint commit in progress" in err, err
        assert "Traceback" not in err and took < 10 + 5 + LOADED, (took, err)
        once1 = [json.loads(line)["generic"]["seq"] for line in (first + out).splitlines(keepends=True)
                 if line.endswith(b"\n")]
        # still frozen: the first run's writer, left behind, holds the lock until its write returns
        r = subprocess.run(cmd, capture_output=True, timeout=120)
        assert r.returncode == 2 and r.stdout == b"", r.stderr.decode()
        assert f"still locked by the checkpoint writer of a shipper that ended (pid {p.pid})" in r.stderr.decode()
        freeze(False)
        wait_until(lambda: lock_free(tmp_path / "state"), 60, "the writer left behind to end after the thaw")
        freeze(True)  # frozen before the start: the database cannot be opened (waited for 5 s here, 30 by default)
        t0 = time.monotonic()
        r = subprocess.run(cmd, capture_output=True, timeout=120, env={**os.environ, "SHIPPER_STATE_OPEN_SECONDS": "5"})
        took = time.monotonic() - t0
        assert r.returncode == 2 and r.stdout == b"", r.stderr.decode()
        assert "the checkpoint database did not open within 5s" in r.stderr.decode() and took < 5 + LOADED + 10
        freeze(False)
        wait_until(lambda: lock_free(tmp_path / "state"), 60, "the writer left behind to end after the thaw")
        r = subprocess.run(cmd, capture_output=True, timeout=120)
        assert r.returncode == 0, r.stderr.decode()
        once2 = [json.loads(line)["generic"]["seq"] for line in r.stdout.splitlines()]
        assert len(once2) == len(set(once2)) and sorted(set(once1) | set(once2)) == list(range(3000))
        assert len(once1) == len(set(once1)), "the first run sent lines twice"
