"""Issue 22, attack 3: a table dropped and created again while the source's count of the rows above its
cursor had been cut by statement_timeout every time: the warning said "0 rows of the old table not yet
shipped are lost (ids 41..40), and up to 199960 more" — an empty id range and a zero that reads as "nothing
lost". It now names only the bound."""
from __future__ import annotations

import logging

from tests.pg_cluster import USER_EVENTS_DDL
from tests.sources.test_postgres_faults import fill, split
from tests.sources.test_postgres_source import Harness, assert_exactly_once


def test_a_table_gone_before_any_row_above_the_cursor_was_counted_names_the_bound(pg_server, pg_db, tmp_path):
    with pg_server.connect(pg_db, autocommit=True) as conn:
        fill(conn, 200000)
    h = Harness(tmp_path, pg_server.socket_dsn(pg_db), batch_size=40, statement_timeout=0.001)
    src = h.make(once=True)
    emit = src.ctx.emit

    def stop_after_first(batch):
        emit(batch)
        src.ctx.stop.set()

    src.ctx.emit = stop_after_first
    try:
        src.run()
    finally:
        src.close()
    counted = src.status()["rows_unread"]
    with pg_server.connect(pg_db, autocommit=True) as conn:
        conn.execute("DROP TABLE user_events")
        conn.execute(USER_EVENTS_DDL)
        fill(conn, 50, "new")
    h.once()
    first, later = split(h.rows)
    n = len(first)  # a fetch cut by the timeout takes fewer rows: the first batch may hold fewer than 40
    assert n and first and max(first) == n
    assert_exactly_once(first, list(range(1, n + 1)))
    assert_exactly_once(later[1], list(range(1, 51)))
    text = "\n".join(r.getMessage() for r in h.log.records)
    assert f"(ids {n + 1}..{n})" not in text and "row; 0 rows of the old table" not in text, text
    if counted == 0:  # the count never got through (on a fast machine it may have: then the usual words)
        assert h.log.count(logging.WARNING, f"up to {200000 - n} rows of the old table not yet shipped are lost "
                                            f"(ids {n + 1}..200000, not counted before the table went)") == 1, text
