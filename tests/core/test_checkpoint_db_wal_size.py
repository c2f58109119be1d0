"""The checkpoint database's WAL on a small state_dir (issue 13, tests/core/test_attack9_small_state_dir_own_wal_fills.py
for the whole agent): with SQLite's default checkpoint at 1,000 pages (~4 MiB) the WAL of 20 sources' commits filled a
2 MiB filesystem before its first checkpoint, which then could not grow the database, and every commit after the
380th failed. Real tmpfs, the writer's own CheckpointDb."""
from __future__ import annotations

import os
import sqlite3

from shipper.checkpoint_db import DB_FILE, CheckpointDb
from tests.fs_faults import small_tmpfs


def test_the_wal_never_fills_a_2_mib_state_dir(tmp_path):
    with small_tmpfs(tmp_path / "state", 2048) as state:
        db = CheckpointDb(str(state), os.getpid())
        try:
            failed = []
            for i in range(3000):
                fragment = [(f"/var/log/f{k}.log", b'{"offset": %d, "pad": "%s"}' % (i, b"z" * 200)) for k in range(5)]
                try:
                    db.update(f"s{i % 20}", fragment, float(i))
                except sqlite3.Error as e:
                    failed.append((i, str(e)))
            wal = (state / (DB_FILE + "-wal")).stat().st_size
            free = os.statvfs(state).f_bavail * os.statvfs(state).f_frsize
            assert not failed, f"{len(failed)} of 3,000 commits failed, the first {failed[0]}; WAL {wal} bytes"
            assert wal <= 2048 * 1024 // 4, f"the WAL holds {wal} bytes of the 2 MiB filesystem"
            assert db.load("s7")[0][1].startswith(b'{"offset": 2987,'), "the last commit is what is read back"
            assert free >= 1 << 20, f"only {free} bytes left free"
        finally:
            db.close(clean=True)


def test_a_roomy_state_dir_keeps_sqlites_checkpoint_interval(tmp_path):
    """Where there is room the WAL is not checkpointed more often than SQLite's default: every checkpoint syncs the
    WAL and the database, and at 64 pages a commit took ~3 times its wall time (bench/README.md)."""
    with small_tmpfs(tmp_path / "state", 64 * 1024) as state:  # 64 MiB: room on any host, no skip
        db = CheckpointDb(str(state), os.getpid())
        try:
            assert db._db.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 1000
        finally:
            db.close(clean=True)
