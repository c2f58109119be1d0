"""checkpoints.sqlite locked by another process when the agent starts (SQLite's locks are POSIX record locks, which a
descriptor opened read-only can take). A holder that is no shipper has the database copied over (shipper.checkpoint_db:
_copy_over; tests/core/test_attack28_checkpoint_db_fd_opened_before_chmod_refuses_start.py); one that cannot be told,
or is a shipper command, keeps it: the refusal names the holder and what to do, never "check permissions" (the
advice it gave before, for a database that was only locked)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.journal_sinks import SHIPPER, numbered

# Holds a read lock on argv[1] until killed: a POSIX one, or (argv[2] == "ofd") an open file description's, which
# /proc/locks lists without a pid. Its last words are its command line's (a stand-in for a shipper command, below).
LOCKER = """
import fcntl, os, struct, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY)
if sys.argv[2] == "ofd":
    fcntl.fcntl(fd, fcntl.F_OFD_SETLK, struct.pack("hhqqi", fcntl.F_RDLCK, 0, 0, 0, 0) + bytes(4))
else:
    fcntl.lockf(fd, fcntl.LOCK_SH, 0, 0, 0)
print("locked", flush=True)
time.sleep(120)
"""


def _agent_once(tmp_path: Path, n: int, locked_as: list[str] | None = None) -> tuple[subprocess.CompletedProcess, str]:
    logs = tmp_path / "logs"
    logs.mkdir(exist_ok=True)
    with open(logs / "a.log", "a") as f:
        f.write(numbered(n, n + 3))
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(json.dumps({"state_dir": str(tmp_path / "state"),
                               "sources": [{"name": "app", "type": "file", "paths": [str(logs / "*.log")],
                                            "parser": "json"}],
                               "outputs": [{"type": "stdout"}]}))
    if locked_as is None:
        return subprocess.run([SHIPPER, "run", "--once", "-c", str(cfg)], capture_output=True, timeout=120), ""
    locker = subprocess.Popen([sys.executable, "-I", "-c", LOCKER, str(tmp_path / "state" / "checkpoints.sqlite"),
                               *locked_as], stdout=subprocess.PIPE, text=True)
    try:
        assert locker.stdout is not None
        assert locker.stdout.readline().strip() == "locked"
        done = subprocess.run([SHIPPER, "run", "--once", "-c", str(cfg)], capture_output=True, timeout=120)
    finally:
        locker.kill()
        locker.wait()
    return done, str(locker.pid)


def test_a_lock_with_no_holder_to_judge_is_refused_naming_it_not_permissions(tmp_path: Path) -> None:
    first, _ = _agent_once(tmp_path, 0)
    assert first.returncode == 0, first.stderr.decode()[-400:]
    refused, _ = _agent_once(tmp_path, 3, ["ofd"])
    said = refused.stderr.decode()
    assert refused.returncode == 2, said[-600:]
    assert "checkpoints.sqlite: the checkpoint database is locked by" in said, said[-600:]
    assert "open file description" in said and "fuser -v" in said, said[-600:]
    assert "writable" not in said, said[-600:]
    again, _ = _agent_once(tmp_path, 6)  # the lock gone: the lines of the refused start, and the new ones, once
    assert [json.loads(ln)["generic"]["n"] for ln in again.stdout.splitlines()] == [3, 4, 5, 6, 7, 8]


def test_a_lock_held_by_a_shipper_command_of_this_user_is_refused_naming_its_pid(tmp_path: Path) -> None:
    first, _ = _agent_once(tmp_path, 0)
    assert first.returncode == 0, first.stderr.decode()[-400:]
    refused, pid = _agent_once(tmp_path, 3, ["posix", SHIPPER])
    said = refused.stderr.decode()
    assert refused.returncode == 2, said[-600:]
    assert f"the checkpoint database is locked by pid {pid} (user " in said, said[-600:]
    assert "end that process, or wait until it ends, and start again" in said, said[-600:]
    assert "writable" not in said, said[-600:]


def test_a_copied_over_database_keeps_every_checkpoint_and_its_owners_mode(tmp_path: Path) -> None:
    first, _ = _agent_once(tmp_path, 0)
    assert first.returncode == 0, first.stderr.decode()[-400:]
    db = tmp_path / "state" / "checkpoints.sqlite"
    before = os.stat(db).st_ino
    done, _ = _agent_once(tmp_path, 3, ["posix"])  # this user's, no shipper command: copied over
    assert done.returncode == 0, done.stderr.decode()[-600:]
    assert [json.loads(ln)["generic"]["n"] for ln in done.stdout.splitlines()] == [3, 4, 5]
    st = os.stat(db)
    assert st.st_ino != before and st.st_mode & 0o777 == 0o600
    assert not [p.name for p in db.parent.iterdir() if ".new" in p.name or p.name.endswith("-shm")]
    again, _ = _agent_once(tmp_path, 6)
    assert [json.loads(ln)["generic"]["n"] for ln in again.stdout.splitlines()] == [6, 7, 8]



def test_a_copy_a_kill_left_behind_is_removed_and_never_read(tmp_path: Path) -> None:
    # A writer killed inside _copy_over (or _create) leaves checkpoints.sqlite.new and what SQLite keeps beside it: a
    # -wal of it left there would be read into the next copy's pages. The next start removes them all.
    first, _ = _agent_once(tmp_path, 0)
    assert first.returncode == 0, first.stderr.decode()[-400:]
    state = tmp_path / "state"
    left = [state / f"checkpoints.sqlite.new{end}" for end in ("", "-wal", "-shm", "-journal")]
    for path in left:
        path.write_bytes(b"left by a kill -9" * 100)
    # a -wal that SQLite would read: another database's commits, left un-checkpointed by a kill -9
    other = tmp_path / "other.sqlite"
    subprocess.run([sys.executable, "-I", "-c", "import os, sqlite3, sys\ndb = sqlite3.connect(sys.argv[1])\n"
                    "db.execute('PRAGMA journal_mode=WAL')\ndb.execute('CREATE TABLE checkpoints (x)')\n"
                    "db.execute('INSERT INTO checkpoints VALUES (1)')\ndb.commit()\nos._exit(0)", str(other)],
                   check=True)
    left[1].write_bytes((tmp_path / "other.sqlite-wal").read_bytes())
    done, _ = _agent_once(tmp_path, 3, ["posix"])  # copied over: a new .new made, read, renamed
    assert done.returncode == 0, done.stderr.decode()[-600:]
    assert [json.loads(ln)["generic"]["n"] for ln in done.stdout.splitlines()] == [3, 4, 5]
    assert not [p.name for p in left if p.exists()]


def test_a_reset_copies_over_a_database_locked_by_no_shipper(tmp_path: Path) -> None:
    # `shipper reset` holds the state_dir's lock as the agent does: the same copy, not SQLite's 'database is locked'
    first, _ = _agent_once(tmp_path, 0)
    assert first.returncode == 0, first.stderr.decode()[-400:]
    locker = subprocess.Popen([sys.executable, "-I", "-c", LOCKER, str(tmp_path / "state" / "checkpoints.sqlite"),
                               "posix"], stdout=subprocess.PIPE, text=True)
    try:
        assert locker.stdout is not None and locker.stdout.readline().strip() == "locked"
        reset = subprocess.run([SHIPPER, "reset", "--source", "app", "-c", str(tmp_path / "cfg.yaml")],
                               capture_output=True, timeout=120)
    finally:
        locker.kill()
        locker.wait()
    assert reset.returncode == 0, (reset.stdout + reset.stderr).decode()[-600:]
    again, _ = _agent_once(tmp_path, 3)  # started over: every line again
    assert [json.loads(ln)["generic"]["n"] for ln in again.stdout.splitlines()] == list(range(6))
