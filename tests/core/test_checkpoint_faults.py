"""The checkpoint store under faults, with real processes: a state_dir that fills up and frees,
two agents on one state_dir, a damaged database, a read-only state_dir."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import orjson
import pytest

from tests.fs_faults import fill, remount_read_only, small_tmpfs
from tests.support import free_port, wait_until

pytestmark = pytest.mark.slow

SHIPPER = [sys.executable, "-m", "shipper.cli"]


def line(n: int) -> bytes:
    return orjson.dumps({"timestamp": "2026-01-02 03:04:05", "action-type": "FILESYSTEM", "action": "EDIT",
                         "performing-user": f"user{n}", "file-path": f"/f/{n}"})


def append(log: Path, start: int, count: int) -> None:
    with open(log, "ab") as f:
        f.write(b"".join(line(i) + b"\n" for i in range(start, start + count)))


def config(tmp_path: Path, state: Path, port: int | None = None) -> Path:
    log = tmp_path / "useraction.log"
    log.touch()
    cfg = tmp_path / "shipper.yaml"
    http = f'http: {{listen: "127.0.0.1:{port}"}}\n' if port else ""
    cfg.write_text(f"""
state_dir: {state}
{http}sources:
  - name: dm
    type: file
    paths: [{log}]
    parser: datameer
    batch_size: 50
outputs:
  - type: stdout
""")
    return cfg


def users(out: bytes) -> list[int]:
    assert not out or out.endswith(b"\n")
    return [int(orjson.loads(l)["user"]["name"][4:]) for l in out.splitlines()]


def health(port: int) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())
    except OSError:
        return 0, {}


def test_state_dir_filled_mid_run_pauses_names_the_cause_and_recovers(tmp_path):
    port = free_port()
    log = tmp_path / "useraction.log"
    out_path = tmp_path / "out.ndjson"
    with small_tmpfs(tmp_path / "state", 1024) as state:
        cfg = config(tmp_path, state, port)
        with open(out_path, "wb") as out:
            p = subprocess.Popen(SHIPPER + ["run", "-c", str(cfg)], stdout=out, stderr=subprocess.PIPE)
        try:
            append(log, 0, 500)
            wait_until(lambda: users(out_path.read_bytes()) == list(range(500)) and health(port)[0] == 200, 120,
                       "the first lines shipped")
            filler = fill(state)
            append(log, 500, 500)
            wait_until(lambda: health(port)[0] == 503, 120, "/health to turn 503")
            code, doc = health(port)
            assert "No space left on device" in doc["reason"] or "full" in doc["reason"], doc
            assert str(state / "checkpoints.sqlite") in doc["checkpoints"], doc
            assert p.poll() is None, "the agent keeps running"
            filler.unlink()
            wait_until(lambda: health(port)[0] == 200, 120, "/health to recover")
            append(log, 1000, 500)
            wait_until(lambda: len(users(out_path.read_bytes())) >= 1500, 120, "every line shipped")
        finally:
            p.send_signal(signal.SIGTERM)
            _, err = p.communicate(timeout=120)
        err = err.decode()
        assert p.returncode == 0, err
        assert "checkpoint commit failed; reading paused, retrying" in err and "checkpoints saved again" in err, err
        assert "Traceback" not in err, err
        assert users(out_path.read_bytes()) == list(range(1500))
        # Everything delivered was checkpointed: a run now repeats nothing.
        r = subprocess.run(SHIPPER + ["run", "--once", "-c", str(cfg)], capture_output=True, timeout=120)
        assert r.returncode == 0, r.stderr.decode()
        assert r.stdout == b""


def test_run_once_with_a_full_state_dir_ends_with_a_clear_error(tmp_path):
    log = tmp_path / "useraction.log"
    with small_tmpfs(tmp_path / "state", 1024) as state:
        cfg = config(tmp_path, state)
        r = subprocess.run(SHIPPER + ["run", "--once", "-c", str(cfg)], capture_output=True, timeout=120)
        assert r.returncode == 0, r.stderr.decode()  # the database exists, with room to spare
        filler = fill(state, leave=48 * 1024)  # enough to open the database, not for many commits
        append(log, 0, 3000)
        r = subprocess.run(SHIPPER + ["run", "--once", "-c", str(cfg)], capture_output=True, timeout=120)
        err = r.stderr.decode()
        assert r.returncode == 1, err
        assert f"cannot save checkpoints in {state / 'checkpoints.sqlite'}" in err, err
        assert "the filesystem holding it is full (ENOSPC" in err, err  # the cause, plainly
        assert "frozen" not in err and "hung" not in err, err  # (it blamed a frozen filesystem)
        assert "Traceback" not in err, err
        filler.unlink()
        r2 = subprocess.run(SHIPPER + ["run", "--once", "-c", str(cfg)], capture_output=True, timeout=120)
        assert r2.returncode == 0, r2.stderr.decode()
        # What the failed run delivered without saving is sent again (it said so), nothing is lost.
        assert sorted(set(users(r.stdout + r2.stdout))) == list(range(3000))
        assert users(r2.stdout)[-1] == 2999
        r3 = subprocess.run(SHIPPER + ["run", "--once", "-c", str(cfg)], capture_output=True, timeout=120)
        assert r3.returncode == 0 and r3.stdout == b"", r3.stderr.decode()


def test_run_once_on_a_state_dir_filled_to_the_last_byte_names_the_full_disk_not_a_frozen_one(tmp_path):
    """The stop's request giving the reserve back, sent with no time left to wait for its answer, was counted
    as a request that never returned: the run ended blaming a frozen filesystem or a hung disk."""
    log = tmp_path / "useraction.log"
    with small_tmpfs(tmp_path / "state", 1024) as state:
        cfg = config(tmp_path, state)
        cfg.write_text(cfg.read_text().replace("batch_size: 50", "parse_workers: 0"))  # one request at a time
        append(log, 0, 2000)
        r = subprocess.run(SHIPPER + ["run", "--once", "-c", str(cfg)], capture_output=True, timeout=120)
        assert r.returncode == 0 and users(r.stdout) == list(range(2000)), r.stderr.decode()
        append(log, 2000, 2000)
        filler = fill(state)
        r = subprocess.run(SHIPPER + ["run", "--once", "-c", str(cfg)], capture_output=True, timeout=120)
        err = r.stderr.decode()
        assert r.returncode == 1, err
        assert "the filesystem holding it is full (ENOSPC" in err, err
        assert "frozen" not in err and "hung" not in err, err
        filler.unlink()
        r2 = subprocess.run(SHIPPER + ["run", "--once", "-c", str(cfg)], capture_output=True, timeout=120)
        assert r2.returncode == 0, r2.stderr.decode()
        assert sorted(set(users(r.stdout + r2.stdout))) == list(range(2000, 4000))


def test_a_second_agent_on_the_same_state_dir_exits_2_naming_the_first(tmp_path):
    log = tmp_path / "useraction.log"
    cfg = config(tmp_path, tmp_path / "state")
    append(log, 0, 100)
    out_path = tmp_path / "out.ndjson"
    started = time.time()
    with open(out_path, "wb") as out:
        first = subprocess.Popen(SHIPPER + ["run", "-c", str(cfg)], stdout=out, stderr=subprocess.PIPE)
    try:
        wait_until(lambda: len(users(out_path.read_bytes())) == 100, 120, "the first agent to ship")
        r = subprocess.run(SHIPPER + ["run", "-c", str(cfg)], capture_output=True, timeout=120)
        err = r.stderr.decode()
        assert r.returncode == 2, err
        assert r.stdout == b""
        assert err.count("\n") == 1 and f"(pid {first.pid})" in err and str(tmp_path / "state") in err, err
        r = subprocess.run(SHIPPER + ["run", "--once", "-c", str(cfg)], capture_output=True, timeout=120)
        assert r.returncode == 2 and r.stdout == b"", r.stderr.decode()

        # status beside the lock: the running agent holds the database (its WAL index in its own memory,
        # checkpoint_db._connect); with no http endpoint to ask, status shows the saved positions from the
        # snapshot the agent writes beside it, says so and how old it is, and names the agent
        size = log.stat().st_size

        def status_text() -> str:
            st = subprocess.run(SHIPPER + ["status", "-c", str(cfg)], capture_output=True, timeout=120)
            assert st.returncode == 0, st.stderr.decode()
            return st.stdout.decode()

        wait_until(lambda: f"{log}: position {size} of {size} bytes, lag 0" in status_text(), 60,
                   "status to show the position saved last")
        text = status_text()
        assert f"daemon: running (pid {first.pid}) and holding the checkpoint database" in text, text
        assert "saved positions: from the running agent's snapshot, written " in text and "s ago" in text, text
        assert "older than it should be" not in text and "no checkpoint yet" not in text, text
        st = subprocess.run(SHIPPER + ["status", "--json", "-c", str(cfg)], capture_output=True, timeout=120)
        doc = json.loads(st.stdout)
        # Written by this agent, in wall-clock seconds. Not "within 60 s": an idle agent writes no snapshot (one follows
        # each change within SNAPSHOT_EVERY), so its age is the time this test took since the last commit: 64 s at
        # load 25 (session 28). A snapshot late after a change is what "older than it should be" above says.
        assert doc["saved"]["from"] == "snapshot" and started <= doc["saved"]["written"] <= time.time(), doc
        assert first.poll() is None, "status took nothing from the running agent"
        r = subprocess.run(SHIPPER + ["run", "--once", "-c", str(cfg)], capture_output=True, timeout=120)
        assert r.returncode == 2, "the lock is still the first agent's"
        append(log, 100, 20)  # and it goes on saving positions (status shows them within seconds)
        wait_until(lambda: len(users(out_path.read_bytes())) == 120, 120, "the first agent to ship on")
        size = log.stat().st_size
        wait_until(lambda: f"{log}: position {size} of {size} bytes, lag 0" in status_text(), 60,
                   "status to show the new saved position")
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=120)
    assert users(out_path.read_bytes()) == list(range(120))
    # The lock went with the first agent (also after a kill -9: the kernel drops it).
    r = subprocess.run(SHIPPER + ["run", "--once", "-c", str(cfg)], capture_output=True, timeout=120)
    assert r.returncode == 0 and r.stdout == b"", r.stderr.decode()
    # stopped, the agent's database is read again: status shows the saved position
    st = subprocess.run(SHIPPER + ["status", "--json", "-c", str(cfg)], capture_output=True, timeout=120)
    assert st.returncode == 0, st.stderr.decode()
    (src,) = json.loads(st.stdout)["sources"]
    assert [f["offset"] for f in src["files"]] == [log.stat().st_size]


def _one_error_line(r: subprocess.CompletedProcess) -> str:
    err = r.stderr.decode()
    assert r.returncode == 2, err
    assert "Traceback" not in err and err.count("\n") == 1 and err.startswith("error: "), err
    return err


def test_a_damaged_checkpoint_database_is_named_with_what_to_do(tmp_path):
    log = tmp_path / "useraction.log"
    state = tmp_path / "state"
    cfg = config(tmp_path, state)
    append(log, 0, 50)
    assert subprocess.run(SHIPPER + ["run", "--once", "-c", str(cfg)], capture_output=True, timeout=120).returncode == 0
    db = state / "checkpoints.sqlite"
    whole = db.read_bytes()
    for damaged in (whole[: len(whole) // 2], os.urandom(len(whole)), b"not a database at all\n" * 100):
        db.write_bytes(damaged)
        err = _one_error_line(subprocess.run(SHIPPER + ["run", "--once", "-c", str(cfg)], capture_output=True,
                                             timeout=120))
        assert f"{db}: the checkpoint database is damaged" in err and "docs/operations.md" in err, err
        assert f"mv {db} {db}.damaged" in err
        err = _one_error_line(subprocess.run(SHIPPER + ["status", "-c", str(cfg)], capture_output=True, timeout=120))
        assert f"{db}: cannot read the checkpoint database" in err, err
    # Doing what it says works: moved aside, the source starts over (read_from: beginning).
    db.rename(str(db) + ".damaged")
    r = subprocess.run(SHIPPER + ["run", "--once", "-c", str(cfg)], capture_output=True, timeout=120)
    assert r.returncode == 0 and users(r.stdout) == list(range(50)), r.stderr.decode()


def test_a_read_only_state_dir_is_named(tmp_path):
    log = tmp_path / "useraction.log"
    append(log, 0, 10)
    with small_tmpfs(tmp_path / "state", 1024) as state:
        cfg = config(tmp_path, state)
        assert subprocess.run(SHIPPER + ["run", "--once", "-c", str(cfg)], capture_output=True,
                              timeout=120).returncode == 0
        remount_read_only(state)
        err = _one_error_line(subprocess.run(SHIPPER + ["run", "--once", "-c", str(cfg)], capture_output=True,
                                             timeout=120))
        assert f"{state}: cannot write to the state_dir (Read-only file system)" in err, err
        assert "docs/operations.md" in err
    # A state_dir that cannot even be made (its parent is a file).
    cfg = config(tmp_path, tmp_path / "useraction.log" / "state")
    err = _one_error_line(subprocess.run(SHIPPER + ["run", "--once", "-c", str(cfg)], capture_output=True, timeout=120))
    assert f"cannot make the state_dir: {tmp_path / 'useraction.log'} is not a folder" in err, err
