"""Black-box attack 5: one row of `user_events` is inserted by hand with an id far above the sequence (a
DBA's fix-up, rows merged from another installation with their own ids). The source ships it and its
cursor jumps there; the application's next rows take their ids from the sequence, far below the cursor.
README: "rows committed late with a lower id are not skipped"; docs/operations.md: "a sequence restarted
below the cursor" is noticed. Found: once the ids between are let go (`gap_grace` later: no transaction
took them), no row the application writes is ever shipped (10 of 10 here, and every later one), and
nothing is said (the vendor-id gap check names the billion-id range once, 300 s later, as numbers
"never seen here", not as rows that exist and are not read)."""
from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import urllib.request

import pytest

from tests.sources.test_postgres_faults import fill
from tests.support import wait_until

pytestmark = pytest.mark.slow

SHIPPER = [sys.executable, "-m", "shipper.cli"]


def test_rows_below_a_cursor_that_jumped_ahead_of_the_sequence_are_shipped_or_named(pg_server, pg_db, tmp_path):
    with pg_server.connect(pg_db, autocommit=True) as conn:
        fill(conn, 5)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = tmp_path / "shipper.yaml"
    cfg.write_text(f"""
state_dir: {tmp_path / 'state'}
shutdown_timeout: 3
http: {{listen: "127.0.0.1:{port}"}}
sources:
  - {{name: cai, type: postgres, parser: cloudera_ai, dsn: '{pg_server.socket_dsn(pg_db)}', poll_interval: 0.3,
      gap_grace: 1}}
outputs:
  - {{type: stdout}}
""")
    out, log = tmp_path / "out.jsonl", tmp_path / "agent.log"
    with open(out, "wb") as o, open(log, "wb") as e:
        agent = subprocess.Popen(SHIPPER + ["run", "-c", str(cfg)], stdout=o, stderr=e)

    def ids() -> list[str]:
        data = out.read_text()
        return [json.loads(line)["event"]["id"] for line in data[: data.rfind("\n") + 1].splitlines()]

    def cursor() -> dict:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=10) as answer:
                return json.loads(answer.read())["sources"]["cai"]["status"]
        except OSError:
            return {}

    try:
        wait_until(lambda: len(ids()) >= 5, 90, "the first 5 rows")
        with pg_server.connect(pg_db, autocommit=True) as conn:
            conn.execute("INSERT INTO user_events (id, user_id, ipaddr, user_agent, event_name, description) "
                         "VALUES (1000000000, gen_random_uuid(), '10.1.2.3', 'psql', 'user login', 'by hand')")
        wait_until(lambda: "1000000000" in ids(), 90, "the row inserted by hand")
        # the ids between were never taken by a transaction: the gap is let go after gap_grace (1 s)
        wait_until(lambda: cursor().get("max_id") == 1000000000 and cursor().get("gap_ranges") == 0, 90,
                   "the gap below the row inserted by hand to be let go")
        with pg_server.connect(pg_db, autocommit=True) as conn:
            fill(conn, 10, "later")  # the application goes on: ids 6..15 from the sequence
        later = {str(i) for i in range(6, 16)}
        wait_until(lambda: later <= set(ids()), 60, "the later rows")
    except AssertionError as e:
        raise AssertionError(f"{e}; shipped {ids()}; log: {log.read_text()[-1500:]}") from None
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait(60)
    said = [line for line in log.read_text().splitlines() if "level=warning" in line or "level=error" in line]
    assert later <= set(ids()) or said, f"rows {sorted(later - set(ids()), key=int)} never shipped, nothing said"
    shipped = ids()
    assert later <= set(shipped), f"rows {sorted(later - set(shipped), key=int)} never shipped (only said)"
    assert len(shipped) == len(set(shipped)), "a row shipped twice"
    assert [line for line in said if "sequence is at" in line], said  # and the jump is named, once
    assert len([line for line in said if "sequence is at" in line]) == 1, said
