"""The postgres source when another PostgreSQL cluster answers at the same address (attack 11's find: a second
cluster with the same table oid, rows only below the cursor and its id sequence above it: its rows were never
shipped and nothing was said). Two real throwaway clusters on one port and one socket folder, one after the other;
the cursor keeps the cluster's system identifier (pg_control_system())."""
from __future__ import annotations

import logging

import pytest

from shipper import metrics
from tests.pg_cluster import USER_EVENTS_DDL, PgCluster
from tests.sources.test_postgres_faults import fill, split
from tests.sources.test_postgres_source import NAME, Harness, assert_exactly_once

pytestmark = pytest.mark.slow  # (tens of seconds: `make test` hands it out with the slow files, early)

DB = "audit"


@pytest.fixture
def two_clusters():
    """(first, second, oids): the first running with DB and its user_events table; the second made (not
    started) on the same port and socket folder, with the same database and table made the same way; the
    table's oid in each."""
    first, second = PgCluster(), PgCluster()
    oids = []
    try:
        first.init()
        second.port, second.sock = first.port, first.sock
        second.init()
        for cluster in (second, first):  # the second is set up first, then stopped: the first runs on
            cluster.start()
            with cluster.connect(autocommit=True) as conn:
                conn.execute(f"CREATE DATABASE {DB}")
            with cluster.connect(DB, autocommit=True) as conn:
                conn.execute(USER_EVENTS_DDL)
                oids.append(conn.execute("SELECT 'user_events'::regclass::oid::bigint").fetchone()[0])
            if cluster is second:
                cluster.stop()
        yield first, second, oids
    finally:
        first.destroy()
        second.destroy()


def swap(first: PgCluster, second: PgCluster) -> None:
    first.stop()
    second.start()


def server_changes() -> float:
    return metrics.REGISTRY.get_sample_value("shipper_source_errors_total",
                                             {"source": NAME, "kind": "server_changed"}) or 0.0


def test_another_cluster_with_rows_only_below_the_cursor_is_read_from_its_first_row(two_clusters, tmp_path):
    first, second, oids = two_clusters
    assert oids[0] == oids[1]  # the table checks cannot tell the two apart by it
    with first.connect(DB, autocommit=True) as conn:
        fill(conn, 50)
    h = Harness(tmp_path, first.socket_dsn(DB))
    h.once()
    assert sorted(h.ids()) == list(range(1, 51))
    before = server_changes()
    swap(first, second)
    with second.connect(DB, autocommit=True) as conn:  # rows below the cursor, its sequence above it
        fill(conn, 20, "other")
        conn.execute("SELECT setval('user_events_id_seq', 100)")
        fill(conn, 2, "other-late")  # ids 101, 102
    h.once()
    h.once()
    first_ids, later = split(h.rows)
    assert_exactly_once(first_ids, list(range(1, 51)))
    assert_exactly_once(later.get(1, []), list(range(1, 21)) + [101, 102])
    assert h.log.count(logging.WARNING, "is on another PostgreSQL cluster now (system identifier") == 1, h.log.text()
    assert h.log.count(logging.WARNING, "with no row at the id 50 already shipped: starting over") == 1, h.log.text()
    assert server_changes() == before + 1
    with second.connect(DB) as conn:
        assert h.state()["table"]["server"] == str(conn.execute("SELECT system_identifier FROM pg_control_system()")
                                                   .fetchone()[0])


def test_a_copy_of_the_table_on_another_cluster_is_read_on_where_the_cursor_is(two_clusters, tmp_path):
    """A move to another cluster with the same rows (a dump restored, a logical copy): nothing is shipped again,
    even where the copy's table has another oid; the change is said once."""
    first, second, _ = two_clusters
    with first.connect(DB, autocommit=True) as conn:
        fill(conn, 40)
    h = Harness(tmp_path, first.socket_dsn(DB))
    h.once()
    with first.connect(DB) as conn:
        rows = conn.execute("SELECT id, user_id, ipaddr, user_agent, event_name, description, created_at "
                            "FROM user_events ORDER BY id").fetchall()
    swap(first, second)
    with second.connect(DB, autocommit=True) as conn:  # the copy: made again, so its table has another oid
        conn.execute("DROP TABLE user_events")
        conn.execute(USER_EVENTS_DDL)
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO user_events (id, user_id, ipaddr, user_agent, event_name, description, "
                            "created_at) VALUES (%s, %s, %s, %s, %s, %s, %s)", rows)
        conn.execute("SELECT setval('user_events_id_seq', 40)")
        fill(conn, 5, "after the move")  # ids 41..45
    before = server_changes()
    h.once()
    first_ids, later = split(h.rows)
    assert not later, f"rows shipped again under new ids: {later}"
    assert_exactly_once(first_ids, list(range(1, 46)))
    assert h.log.count(logging.WARNING, "holds the row 40 already shipped, as shipped: reading on") == 1, h.log.text()
    assert not h.log.count(logging.WARNING, "starting over"), h.log.text()
    assert server_changes() == before + 1
    h.once()  # the new cluster is the cursor's now: nothing more is said
    assert server_changes() == before + 1 and len(h.rows) == 45


def test_a_role_that_may_not_read_the_identifier_still_reads_the_table_and_is_told_once(pg_server, pg_db, tmp_path):
    """pg_control_system() revoked from PUBLIC (a hardened install): the source must read on, said once a run."""
    reader = f"reader_{pg_db}"
    with pg_server.connect(pg_db, autocommit=True) as conn:
        fill(conn, 5)
        conn.execute(f'CREATE ROLE "{reader}" LOGIN')
        conn.execute(f'GRANT SELECT ON user_events TO "{reader}"')
        conn.execute("REVOKE EXECUTE ON FUNCTION pg_control_system() FROM PUBLIC")  # in this database only
    try:
        h = Harness(tmp_path, f"{pg_server.socket_dsn(pg_db)} user={reader}")
        h.once()
        with pg_server.connect(pg_db, autocommit=True) as conn:
            fill(conn, 3)
        h.once()
    finally:
        with pg_server.connect(pg_db, autocommit=True) as conn:
            conn.execute(f'REVOKE ALL ON user_events FROM "{reader}"')
            conn.execute(f'DROP ROLE "{reader}"')
    assert_exactly_once(h.ids(), list(range(1, 9)))
    assert h.log.count(logging.WARNING, "cannot read the server's system identifier") == 2, h.log.text()  # a run each
    assert h.state()["table"]["server"] is None
