"""Issue 22, attack: rows whose values are legal in PostgreSQL but unusual, against a real PostgreSQL.
- a `created_at` of 'infinity', '-infinity', a BC date or a year past 9999 (all valid `timestamp`s) made
  every fetch fail in psycopg (`DataError: timestamp too large`): the rows before it, it and every row
  after it unshipped for ever, one warning;
- ids at or below 0 (a sequence started low to use the whole range) were never read, with no warning."""
from __future__ import annotations

import pytest

from tests.sources.test_postgres_faults import fill
from tests.sources.test_postgres_source import Harness, assert_exactly_once, table_ids


@pytest.mark.parametrize("stamp", ["infinity", "-infinity", "0044-03-15 BC", "12024-01-01"])
def test_a_timestamp_python_cannot_hold_is_shipped_and_the_rows_after_it_too(pg_server, pg_db, tmp_path, stamp):
    with pg_server.connect(pg_db, autocommit=True) as conn:
        fill(conn, 3)
        conn.execute("INSERT INTO user_events (event_name, description, created_at) VALUES ('user login', 'odd', %s)",
                     (stamp,))
        fill(conn, 3, "after")
    h = Harness(tmp_path, pg_server.socket_dsn(pg_db))
    h.once()
    assert_exactly_once(h.ids(), table_ids(pg_server, pg_db))
    odd = [r for r in h.rows if r.get("description") == "odd"]
    assert len(odd) == 1 and odd[0].get("created_at"), odd  # the value is kept, not dropped



def test_ids_at_or_below_zero_are_read_too(pg_server, pg_db, tmp_path):
    with pg_server.connect(pg_db, autocommit=True) as conn:
        conn.execute("INSERT INTO user_events (id, event_name, description) VALUES "
                     "(-5, 'user login', 'low'), (0, 'user login', 'zero')")
        fill(conn, 3)
    h = Harness(tmp_path, pg_server.socket_dsn(pg_db))
    h.once()
    assert_exactly_once(h.ids(), table_ids(pg_server, pg_db))
