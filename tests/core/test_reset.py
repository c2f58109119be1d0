"""`shipper reset --source NAME` starts one source over: its rows leave the checkpoint database, each
named as it goes (a file's position by its path), and every other source keeps its own. It asks
nothing; it is refused, naming the agent's pid, while an agent runs on the state_dir; a name the
config does not know and nothing was saved for is an error, not a silent success."""
from __future__ import annotations

import signal
import sqlite3
import subprocess
from pathlib import Path

import pytest

from tests.core.test_checkpoint_faults import SHIPPER, append, config, users
from tests.support import wait_until

pytestmark = pytest.mark.slow  # (tens of seconds: `make test` hands it out with the slow files, early)


def two_sources(tmp_path: Path) -> tuple[Path, Path, Path, Path]:
    """Sources dm (20 lines) and other (5 lines, users 100-104), read and saved by a `run --once`: the
    config, dm's file, other's file and the checkpoint database."""
    log, other, state = tmp_path / "useraction.log", tmp_path / "other.log", tmp_path / "state"
    cfg = config(tmp_path, state)
    cfg.write_text(cfg.read_text().replace("outputs:", f"""  - name: other
    type: file
    paths: [{other}]
    parser: datameer
outputs:"""))
    append(log, 0, 20)
    append(other, 100, 5)
    first = subprocess.run(SHIPPER + ["run", "--once", "-c", str(cfg)], capture_output=True, timeout=120)
    assert first.returncode == 0 and sorted(users(first.stdout)) == [*range(20), *range(100, 105)], first
    return cfg, log, other, state / "checkpoints.sqlite"


def _rows(db: Path) -> dict[str, dict[str, bytes]]:
    conn = sqlite3.connect(db)
    try:
        out: dict[str, dict[str, bytes]] = {}
        for source, key, value in conn.execute("SELECT source, key, value FROM checkpoints"):
            out.setdefault(source, {})[key] = value
        return out
    finally:
        conn.close()


def _reset(cfg: Path, name: str) -> subprocess.CompletedProcess:
    return subprocess.run(SHIPPER + ["reset", "-c", str(cfg), "--source", name], capture_output=True, timeout=60)


def test_reset_removes_one_source_and_names_what_it_removed(tmp_path):
    cfg, log, other, db = two_sources(tmp_path)
    before = _rows(db)
    assert set(before) == {"dm", "other"}
    r = _reset(cfg, "dm")
    out = r.stdout.decode()
    assert r.returncode == 0 and not r.stderr, r
    assert out.startswith(f"{db}: removed the saved state of source dm ({len(before['dm'])} checkpoint(s)):\n"), out
    assert f"file {log}, read to byte {log.stat().st_size}" in out, out  # the position that went, by its file
    assert all(key in out for key in before["dm"]), out
    assert str(other) not in out
    assert _rows(db) == {"other": before["other"]}  # the other source's positions, byte for byte
    again = _reset(cfg, "dm")  # nothing left: said, not an error
    assert again.returncode == 0 and "source dm has no saved state" in again.stdout.decode(), again


def test_reset_is_refused_while_an_agent_runs_naming_it(tmp_path):
    cfg, _log, _other, db = two_sources(tmp_path)
    before = _rows(db)
    agent = subprocess.Popen(SHIPPER + ["run", "-c", str(cfg)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        lock = db.parent / "shipper.lock"
        wait_until(lambda: lock.read_text().strip() == str(agent.pid), 120, "the agent's lock on the state_dir")
        r = _reset(cfg, "dm")
        err = r.stderr.decode()
        assert r.returncode == 2 and not r.stdout, r
        assert err == f"error: {db.parent}: in use by another shipper (pid {agent.pid}): stop it first; nothing " \
                      "was removed\n", err
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.communicate(timeout=120)
    assert agent.returncode == 0
    assert _rows(db)["dm"].keys() == before["dm"].keys()  # (the agent may have saved again; nothing removed)
    assert _reset(cfg, "dm").returncode == 0  # stopped, it is done
    assert "dm" not in _rows(db)


def test_a_truncated_database_is_refused_not_made_new(tmp_path):
    """A database cut short is damaged: reset says so and leaves it as it is (SQLite, opening it, would
    take it for a new one and write a new database there: every source's positions gone, not one's)."""
    cfg, _log, _other, db = two_sources(tmp_path)
    db.write_bytes(b"")  # (emptied: SQLite takes an empty file for a new database)
    r = _reset(cfg, "dm")
    err = r.stderr.decode()
    assert r.returncode == 2 and not r.stdout, r
    assert err.startswith(f"error: {db}: file is not a database: 0 bytes") and "nothing was removed" in err, err
    assert db.stat().st_size == 0


def test_a_name_neither_configured_nor_saved_is_an_error(tmp_path):
    cfg, _log, _other, db = two_sources(tmp_path)
    before = _rows(db)
    r = _reset(cfg, "dn")
    err = r.stderr.decode()
    assert r.returncode == 1 and not r.stdout, r
    assert "no saved state for source 'dn'" in err and "its sources: dm, other" in err, err
    assert _rows(db) == before
