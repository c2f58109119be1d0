"""`shipper status` with no agent running and checkpoints.sqlite held locked by a process that is no shipper (an
operator's `sqlite3` left open in exclusive mode, a backup): it read the lock as the running agent's and said `daemon:
running (pid N) and holding the checkpoint database`, N the pid the last run wrote, ended long ago, and showed no
positions (fix13's leftovers, session 29). It says what holds the database, and ends; a shared read lock (what the
agent's start copies over) keeps no reader out: the positions are shown."""
from __future__ import annotations

import subprocess
import sys

from tests.journal_sinks import SHIPPER
from tests.other_user_locks import READ_LOCK, locked_by_nobody, passable_folder, shipped_once
from tests.support import stop_process, wait

_EXCLUSIVE_READER = ("import sqlite3, sys, time\ndb = sqlite3.connect(sys.argv[1])\n"
                     "db.execute('PRAGMA locking_mode=EXCLUSIVE')\ndb.execute('SELECT count(*) FROM checkpoints')"
                     ".fetchall()\nprint('holding', flush=True)\ntime.sleep(300)")


def test_status_names_a_non_shipper_holding_the_database_while_no_agent_runs(tmp_path):
    with passable_folder("status-db-held-") as folder:
        cfg, state, _logs = shipped_once(folder)
        ended = (state / "shipper.lock").read_text().strip()
        holder = subprocess.Popen([sys.executable, "-I", "-c", _EXCLUSIVE_READER, str(state / "checkpoints.sqlite")],
                                  stdout=subprocess.PIPE, text=True)
        try:
            assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
            done = subprocess.run([SHIPPER, "status", "-c", str(cfg)], capture_output=True, text=True, timeout=60)
        finally:
            holder.kill()
            holder.wait()
        said = done.stdout + done.stderr
        assert "running" not in said and f"pid {ended}" not in said, said
        assert done.returncode == 2 and f"locked by pid {holder.pid} (user" in done.stderr, said
        assert "no shipper runs on the state_dir" in done.stderr, said


def test_status_reads_a_database_read_locked_by_another_user(tmp_path):
    with passable_folder("status-db-read-locked-") as folder:
        cfg, state, logs = shipped_once(folder)
        (state / "checkpoints.sqlite").chmod(0o644)  # (as an earlier release left it)
        with locked_by_nobody(state / "checkpoints.sqlite", READ_LOCK) as took:
            assert took == "locked"
            done = subprocess.run([SHIPPER, "status", "-c", str(cfg)], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert "saved positions: from the checkpoint database" in done.stdout, done.stdout
        assert f"{logs / 'a.log'}: position 45 of 45 bytes" in done.stdout, done.stdout


def test_status_takes_a_database_held_by_an_agent_whose_lock_file_was_removed_for_the_agents(tmp_path):
    """The running agent's lock file alone removed (a tmpfiles cleaner; it takes it again within seconds): its writer
    still holds the database, and status says the agent holds it, not that no shipper runs."""
    with passable_folder("status-db-lock-removed-") as folder:
        cfg, state, _logs = shipped_once(folder)
        agent = subprocess.Popen([SHIPPER, "run", "-c", str(cfg)], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
        try:
            assert wait(lambda: (state / "shipper.lock").read_text().strip() == str(agent.pid), 60)
            (state / "shipper.lock").unlink()
            done = subprocess.run([SHIPPER, "status", "-c", str(cfg)], capture_output=True, text=True, timeout=60)
        finally:
            stop_process(agent)
        assert done.returncode == 0 and "no shipper runs" not in done.stderr, done.stderr
        assert "holding the checkpoint database" in done.stdout, done.stdout
