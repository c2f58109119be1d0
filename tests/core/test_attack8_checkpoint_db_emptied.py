"""Attack 8 (issue 13's held-out check "a damaged checkpoint database: one line, exit 2"): a checkpoint
database cut to nothing (`truncate -s 0`, `: > checkpoints.sqlite`, or a file system that lost its blocks
after a crash) or to a byte.

docs/operations.md: "`error: …: the checkpoint database is damaged (…)`, exit 2. The file is not a readable
SQLite database (truncated, overwritten, a disk fault)", and then the recovery, which warns that every file
still on disk is shipped again. Found (attack13, 2 of 2 runs each for 0 and 1 byte): the agent takes the
emptied file for a new database and `run --once` ships every event again, exit 0, no word: 50 of 50 lines
repeated here (20,000 of 20,000 by hand). A database the agent made always holds its table, so a file of
fewer bytes than SQLite's 100-byte header where the agent's database was is damaged, not new."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

SHIPPER = [sys.executable, "-m", "shipper.cli"]


def _append(log: Path, start: int, count: int) -> None:
    with open(log, "ab") as f:
        f.write(b"".join(orjson.dumps({"seq": i, "msg": "x" * 20}) + b"\n" for i in range(start, start + count)))


def _run_once(cfg: Path) -> subprocess.CompletedProcess:
    return subprocess.run(SHIPPER + ["run", "--once", "-c", str(cfg)], capture_output=True, timeout=120)


@pytest.mark.parametrize("left", [b"", b"S"], ids=["zero_bytes", "one_byte"])
def test_a_checkpoint_database_cut_to_nothing_is_damaged_not_new(tmp_path, left):
    log = tmp_path / "app.log"
    state = tmp_path / "state"
    cfg = tmp_path / "shipper.yaml"
    cfg.write_text(f"state_dir: {state}\nsources:\n  - name: app\n    type: file\n    paths: [{log}]\n"
                   "    parser: json\noutputs:\n  - type: stdout\n")
    _append(log, 0, 50)
    first = _run_once(cfg)
    assert first.returncode == 0 and first.stdout.count(b"\n") == 50, first.stderr.decode()
    db = state / "checkpoints.sqlite"
    assert db.stat().st_size > 100 and not Path(f"{db}-wal").exists()
    db.write_bytes(left)

    again = _run_once(cfg)
    repeated = again.stdout.count(b"\n")
    err = again.stderr.decode()
    assert repeated == 0, f"{repeated} of 50 events shipped a second time (exit {again.returncode}): {err[-400:]}"
    assert again.returncode == 2 and "Traceback" not in err and err.count("\n") == 1, err
    assert f"{db}: the checkpoint database is damaged" in err and "docs/operations.md" in err, err
