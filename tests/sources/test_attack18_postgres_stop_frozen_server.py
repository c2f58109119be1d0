"""Examiner exam23 (session 20, issue 23): a stop while the PostgreSQL server is frozen (SIGSTOP: a hung host, a
cgroup freezer, a VM paused) mid-poll.

docs/operations.md, "Polling a database or an API", Failures: "A stop cuts a request or query in progress." The
http_poll source holds that (a server hanging mid-answer: the stop takes 0.3 s). The postgres source did not: its
query to the frozen server is not cut, the stop waits the whole `shutdown_timeout` for it, then says `run() did not
return within shutdown_timeout … it is blocked in a call the stop cannot wake` (3 of 3 runs at load 20-30: 6.3 s at
shutdown_timeout 5, 11.2 s and 14.3 s at 10; with the default 30 s, 31 s of a unit's 90 for a source that has
nothing in flight); now a query the cancel does not end within a second is cut at its socket.
Real server, real signals: a private cluster from tests/pg_cluster.py, SIGSTOPped.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.pg_cluster import USER_EVENTS_DDL, PgCluster
from tests.support import wait_until

SHIPPER = Path(sys.executable).with_name("shipper")
TIMEOUT = 8.0


def _cluster_pids(pg: PgCluster) -> list[int]:
    post = int((pg.data / "postmaster.pid").read_text().split()[0])
    kids = subprocess.run(["pgrep", "-P", str(post)], capture_output=True, text=True).stdout.split()
    return [post, *map(int, kids)]


def test_stop_cuts_a_query_to_a_frozen_postgres(tmp_path):
    pg = PgCluster()
    frozen: list[int] = []
    agent = None
    try:
        pg.init()
        pg.start()
        with pg.connect(autocommit=True) as c:
            c.execute(USER_EVENTS_DDL)
            c.execute("INSERT INTO user_events (event_name, description) "
                      "SELECT 'login', 'row ' || g FROM generate_series(1, 50) g")
        out = tmp_path / "out.ndjson"
        journal = tmp_path / "journal.log"
        cfg = tmp_path / "cfg.yaml"
        cfg.write_text(f"""state_dir: {tmp_path / 'state'}
shutdown_timeout: {TIMEOUT}
sources:
  - name: cml
    type: postgres
    parser: cloudera_ai
    dsn: "{pg.socket_dsn()}"
    poll_interval: 0.2
outputs:
  - type: stdout
""")
        with open(out, "wb") as o, open(journal, "wb") as e:
            agent = subprocess.Popen([str(SHIPPER), "run", "-c", str(cfg)], stdout=o, stderr=e)
        wait_until(lambda: out.exists() and out.read_bytes().count(b"\n") >= 50, 90, "the 50 rows shipped")
        frozen = _cluster_pids(pg)
        for pid in frozen:
            os.kill(pid, signal.SIGSTOP)
        time.sleep(1.5)  # several polls: the source is now inside a query the frozen server never answers
        t0 = time.monotonic()
        agent.send_signal(signal.SIGTERM)
        rc = agent.wait(TIMEOUT + 30)
        took = time.monotonic() - t0
        text = journal.read_text(errors="replace")
        assert rc == 0, text[-3000:]
        assert "cannot wake" not in text, text[-3000:]
        # generous under load: the stop cuts the query instead of waiting shutdown_timeout for it
        assert took < TIMEOUT - 2, f"stop took {took:.1f} s (shutdown_timeout {TIMEOUT})\n{text[-3000:]}"
    finally:
        for pid in frozen:
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
        if agent is not None and agent.poll() is None:
            agent.kill()
            agent.wait()
        pg.destroy()
