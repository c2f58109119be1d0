"""`shipper status` beside a running agent without an `http:` endpoint (attack 11's find): a postgres source whose
SELECT was revoked fails at every poll, /health would list it under sources_failing, but status, reading the
checkpoint writer's snapshot, showed no failure at all. Fixed: the agent hands the sources failing now to the
writer when they change, its snapshot carries them, and status shows them as it shows /status's."""
from __future__ import annotations

import signal
import subprocess
import sys

import psycopg.sql
import pytest

from tests.sources.test_postgres_source import insert
from tests.support import wait_until

pytestmark = pytest.mark.slow
SHIPPER = [sys.executable, "-m", "shipper.cli"]


def test_status_without_http_names_a_source_failing_to_read(pg_server, pg_db, tmp_path):
    reader = f"reader_{pg_db}"
    with pg_server.connect(pg_db, autocommit=True) as conn:
        insert(conn, 3)
        conn.execute(psycopg.sql.SQL("CREATE ROLE {} LOGIN").format(psycopg.sql.Identifier(reader)))
    cfg = tmp_path / "shipper.yaml"
    cfg.write_text(f"""state_dir: {tmp_path / 'state'}
sources:
  - {{name: cml, type: postgres, parser: cloudera_ai, dsn: '{pg_server.socket_dsn(pg_db)} user={reader}',
      poll_interval: 0.2, retry_max: 0.5}}
outputs:
  - {{type: stdout}}
""")

    def status() -> str:
        r = subprocess.run(SHIPPER + ["status", "-c", str(cfg)], capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        return r.stdout

    out = tmp_path / "out.jsonl"
    with open(out, "wb") as o, open(tmp_path / "agent.log", "wb") as e:
        agent = subprocess.Popen(SHIPPER + ["run", "-c", str(cfg)], stdout=o, stderr=e)
    try:
        wait_until(lambda: "failing since" in status(), 90, "status naming the failing source")
        text = status()
        assert "no http endpoint in the config" in text, text
        assert ": permission: permission denied for table user_events" in text, text
        with pg_server.connect(pg_db, autocommit=True) as conn:
            conn.execute(psycopg.sql.SQL("GRANT SELECT ON user_events TO {}").format(psycopg.sql.Identifier(reader)))
        wait_until(lambda: out.read_bytes().count(b"\n") == 3, 90, "the rows once it may read them")
        wait_until(lambda: "permission" not in status(), 90, "status no longer naming the failure")
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait(60)
        with pg_server.connect(pg_db, autocommit=True) as conn:
            conn.execute(psycopg.sql.SQL("REVOKE ALL ON user_events FROM {}").format(psycopg.sql.Identifier(reader)))
            conn.execute(psycopg.sql.SQL("DROP ROLE {}").format(psycopg.sql.Identifier(reader)))
