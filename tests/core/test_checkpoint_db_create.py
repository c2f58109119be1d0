"""A new checkpoint database is made whole under a temporary name and renamed into place
(shipper/checkpoint_db.py `_create`), so a file at its path that is shorter than SQLite's header is damaged,
never new (tests/core/test_attack8_checkpoint_db_emptied.py). What a writer killed while making one leaves
behind must not stop the next start."""
from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import orjson

SHIPPER = [sys.executable, "-m", "shipper.cli"]


def _config(tmp_path: Path) -> tuple[Path, Path, Path]:
    log, state, cfg = tmp_path / "app.log", tmp_path / "state", tmp_path / "shipper.yaml"
    cfg.write_text(f"state_dir: {state}\nsources:\n  - name: app\n    type: file\n    paths: [{log}]\n"
                   "    parser: json\noutputs:\n  - type: stdout\n")
    log.write_bytes(b"".join(orjson.dumps({"seq": i}) + b"\n" for i in range(20)))
    return log, state, cfg


def test_a_half_made_database_left_by_a_killed_first_start_is_removed_and_made_again(tmp_path):
    _, state, cfg = _config(tmp_path)
    state.mkdir()
    (state / "checkpoints.sqlite.new").write_bytes(b"")  # killed between sqlite3.connect and its first write
    run = subprocess.run(SHIPPER + ["run", "--once", "-c", str(cfg)], capture_output=True, timeout=120)
    assert run.returncode == 0, run.stderr.decode()
    assert [orjson.loads(x)["generic"]["seq"] for x in run.stdout.splitlines()] == list(range(20))
    assert not (state / "checkpoints.sqlite.new").exists()
    db = sqlite3.connect(state / "checkpoints.sqlite")
    try:
        assert db.execute("SELECT count(*) FROM checkpoints WHERE source='app'").fetchone()[0] >= 1
    finally:
        db.close()  # the agent takes the database for itself (locking_mode=EXCLUSIVE)
    again = subprocess.run(SHIPPER + ["run", "--once", "-c", str(cfg)], capture_output=True, timeout=120)
    assert again.returncode == 0 and again.stdout == b"", again.stderr.decode()

