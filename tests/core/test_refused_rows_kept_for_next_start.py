"""Issue 13 (exam23d's double naming, tests/tail/test_attack21_stop_full_state_dir_loss_named_twice.py): rows a full
state_dir refuses are kept by the checkpoint writer in room it set aside at its start (shipper.refused_rows), and the
next writer's start commits them; still full, it serves them over the database's rows. On a real tmpfs of 3 MiB (too
small for the 1 MiB reserve), kept full by another writer."""
from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest

from shipper.checkpoint_db import CheckpointDb, remove_source
from tests.fs_faults import kept_full, small_tmpfs


def row(offset: int) -> bytes:
    """A value as the agent saves it (compact JSON text): served back byte for byte."""
    return json.dumps({"offset": offset, "pad": "x" * 200}, separators=(",", ":")).encode()


def refuse(db: CheckpointDb, source: str, key: str, value: bytes | None) -> None:
    """An update the full filesystem refuses (rows enough to need a new page, whatever the WAL had left)."""
    fragment = [(key, value)] + [(f"{key}.{i}", row(i)) for i in range(200)]
    with pytest.raises((sqlite3.Error, OSError)):
        db.update(source, fragment, 1.0)


def test_rows_refused_for_want_of_room_are_committed_by_the_next_start(tmp_path: Path) -> None:
    with small_tmpfs(tmp_path / "state", 3072) as state:
        db = CheckpointDb(str(state), os.getpid())
        db.update("app", [("f:a", row(100)), ("f:gone", row(5))], 1.0)
        with kept_full(state):
            refuse(db, "app", "f:a", row(8690))  # delivered, its commit refused
            refuse(db, "app", "f:gone", None)
            # What the source's state will be at the next start, as a stop's save starts from it.
            assert dict(db.load("app"))["f:a"] == row(8690)
            assert "f:gone" not in dict(db.load("app"))
            db.close(clean=True)
            still_full = CheckpointDb(str(state), os.getpid())  # a start while still full: served, not committed
            assert dict(still_full.load("app"))["f:a"] == row(8690)
            still_full.close(clean=True)
        db = CheckpointDb(str(state), os.getpid())  # the space back: committed at the start
        saved = dict(db._db.execute("SELECT key, value FROM checkpoints WHERE source='app'").fetchall())
        assert json.loads(saved["f:a"])["offset"] == 8690 and "f:gone" not in saved, sorted(saved)
        assert db.refused.rows == {} and db.refused.read() == {}
        db.close(clean=True)


def test_a_reset_source_is_not_given_its_refused_rows_again(tmp_path: Path) -> None:
    with small_tmpfs(tmp_path / "state", 3072) as state:
        db = CheckpointDb(str(state), os.getpid())
        db.update("app", [("f:a", row(100))], 1.0)
        with kept_full(state):
            refuse(db, "app", "f:a", row(8690))
            db.close(clean=True)
        remove_source(str(state), "app")  # `shipper reset app`
        db = CheckpointDb(str(state), os.getpid())
        assert db.load("app") == []
        db.close(clean=True)
