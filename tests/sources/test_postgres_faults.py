"""The postgres source under the faults of issue 22, against a real PostgreSQL: a table re-created, truncated or
restored under the cursor, gap lookups on a big table and lookups that time out, fetches bounded in bytes,
unit traps in the config, failure kinds logged when they start and change."""
from __future__ import annotations

import logging
import subprocess
import sys
import time

import pytest

from shipper import metrics
from shipper_plugins.parsers.cloudera_ai import ClouderaAIParser
from tests.pg_cluster import PASSWORD, USER_EVENTS_DDL
from tests.sources.test_postgres_source import NAME, Harness, assert_exactly_once, insert, table_ids
from tests.support import wait_until


def fill(conn, n: int, tag: str = "old") -> None:
    conn.execute("INSERT INTO user_events (user_id, ipaddr, user_agent, event_name, description) "
                 "SELECT gen_random_uuid(), '10.1.2.3', 'Mozilla/5.0', 'user login', %s || ' ' || g "
                 "FROM generate_series(1, %s) g", (tag, n))


def split(rows: list[dict]) -> tuple[list[int], dict[int, list[str]]]:
    """Ids of the first table, and per epoch n > 0 the ids shipped as `<id>-r<n>`."""
    first, later = [], {}
    for r in rows:
        if isinstance(r["id"], int):
            first.append(r["id"])
        else:
            rid, epoch = r["id"].split("-r")
            later.setdefault(int(epoch), []).append(int(rid))
    return first, later


def resets() -> float:
    return metrics.REGISTRY.get_sample_value("shipper_postgres_table_resets_total", {"source": NAME}) or 0.0


def test_truncate_restart_identity_refilled_past_the_cursor_while_running(pg_server, pg_db, tmp_path):
    with pg_server.connect(pg_db, autocommit=True) as conn:
        fill(conn, 200)
    h = Harness(tmp_path, pg_server.socket_dsn(pg_db))
    before = resets()
    h.start()
    try:
        wait_until(lambda: len(h.rows) >= 200, timeout=60, what="the first table")
        with pg_server.connect(pg_db) as conn:  # one transaction: the source never sees the empty table
            conn.execute("TRUNCATE user_events RESTART IDENTITY")
            fill(conn, 300, "new")
        wait_until(lambda: len(split(h.rows)[1].get(1, [])) >= 300, timeout=60, what="the new table")
        time.sleep(0.5)
    finally:
        h.stop()
    first, later = split(h.rows)
    assert_exactly_once(first, list(range(1, 201)))
    assert_exactly_once(later[1], table_ids(pg_server, pg_db))
    assert set(later) == {1}
    assert all(r["description"].startswith("new") for r in h.rows if not isinstance(r["id"], int))
    assert h.log.count(logging.WARNING, "table user_events was truncated") == 1, h.log.text()
    assert resets() == before + 1


def test_drop_and_create_while_stopped_is_read_from_its_first_row(pg_server, pg_db, tmp_path):
    with pg_server.connect(pg_db, autocommit=True) as conn:
        fill(conn, 150)
    h = Harness(tmp_path, pg_server.socket_dsn(pg_db))
    h.once()
    assert sorted(h.ids()) == list(range(1, 151))
    with pg_server.connect(pg_db, autocommit=True) as conn:  # a restore of a fresh install
        conn.execute("DROP TABLE user_events")
        conn.execute(USER_EVENTS_DDL)
        fill(conn, 400, "new")
    h.once()
    h.once()
    first, later = split(h.rows)
    assert_exactly_once(first, list(range(1, 151)))
    assert_exactly_once(later[1], list(range(1, 401)))
    assert h.log.count(logging.WARNING, "dropped and created again (its oid changed)") == 1, h.log.text()


def test_ids_that_reappear_with_other_rows_start_over(pg_server, pg_db, tmp_path):
    with pg_server.connect(pg_db, autocommit=True) as conn:
        fill(conn, 100)
    h = Harness(tmp_path, pg_server.socket_dsn(pg_db))
    h.once()
    with pg_server.connect(pg_db, autocommit=True) as conn:  # same relfilenode, same oid: only the rows tell
        conn.execute("DELETE FROM user_events")
        conn.execute("ALTER SEQUENCE user_events_id_seq RESTART")
        fill(conn, 130, "new")
    h.once()
    first, later = split(h.rows)
    assert_exactly_once(first, list(range(1, 101)))
    assert_exactly_once(later[1], list(range(1, 131)))
    assert h.log.count(logging.WARNING, "holds another row under the id 100") == 1, h.log.text()


def test_an_emptied_table_whose_sequence_restarted_starts_over_before_ids_pass_the_cursor(pg_server, pg_db, tmp_path):
    with pg_server.connect(pg_db, autocommit=True) as conn:
        fill(conn, 60)
    h = Harness(tmp_path, pg_server.socket_dsn(pg_db))
    h.once()
    with pg_server.connect(pg_db, autocommit=True) as conn:
        conn.execute("DELETE FROM user_events")
        conn.execute("ALTER SEQUENCE user_events_id_seq RESTART")
        fill(conn, 5, "new")
    h.once()
    assert sorted(split(h.rows)[1][1]) == [1, 2, 3, 4, 5]
    assert h.log.count(logging.WARNING, "emptied and its id sequence restarted") == 1, h.log.text()


def test_deleted_newest_rows_or_a_rewrite_are_no_new_table(pg_server, pg_db, tmp_path):
    with pg_server.connect(pg_db, autocommit=True) as conn:
        fill(conn, 50)
    h = Harness(tmp_path, pg_server.socket_dsn(pg_db))
    before = resets()
    h.once()
    with pg_server.connect(pg_db, autocommit=True) as conn:
        conn.execute("DELETE FROM user_events WHERE id > 45")  # the sequence goes on at 51
        conn.execute("VACUUM FULL user_events")  # a new relfilenode, the same rows
    h.once()
    assert h.log.count(logging.WARNING, "highest id is below the cursor") == 1, h.log.text()
    with pg_server.connect(pg_db, autocommit=True) as conn:
        fill(conn, 10, "more")
        conn.execute("CLUSTER user_events USING user_events_pkey")
    h.once()
    h.once()
    assert_exactly_once(h.ids(), list(range(1, 61)))
    assert resets() == before


def test_gap_lookups_use_the_id_index_per_range(pg_server, pg_db, tmp_path):
    with pg_server.connect(pg_db, autocommit=True) as conn:
        fill(conn, 50_000)
        conn.execute("ANALYZE user_events")
    h = Harness(tmp_path, pg_server.socket_dsn(pg_db))
    src = h.make(once=True)
    lo = list(range(10, 50_000, 100))
    with pg_server.connect(pg_db) as conn:
        plan = "\n".join(r[0] for r in conn.execute(b"EXPLAIN " + src._query_gaps.as_bytes(conn),
                                                     (lo, [x + 3 for x in lo], 1000, 1000)))
    # one index range scan per gap; never the whole table filtered against every gap
    assert "Index Cond: ((id >= g.lo) AND (id <= g.hi))" in plan, plan
    assert "Join Filter" not in plan and "Seq Scan on user_events" not in plan, plan


def test_many_gaps_on_a_big_table_with_a_short_statement_timeout_ship_new_rows(pg_server, pg_db, tmp_path):
    with pg_server.connect(pg_db, autocommit=True) as conn:
        fill(conn, 50_000)
    with pg_server.connect(pg_db) as conn:  # 400 rolled-back ids, each between two committed rows
        for _ in range(400):
            insert(conn)
            conn.commit()
            insert(conn)
            conn.rollback()
    h = Harness(tmp_path, pg_server.socket_dsn(pg_db), read_from="end", statement_timeout=0.5, gap_grace=3600,
                batch_size=1000)
    h.once()  # the cursor starts at the end: nothing of the backlog
    with pg_server.connect(pg_db) as conn:
        for _ in range(400):
            insert(conn)
            conn.commit()
            insert(conn)
            conn.rollback()
    h.once()
    with pg_server.connect(pg_db, autocommit=True) as conn:
        new = insert(conn, 50)
    h.once()
    assert set(new) <= set(h.ids())
    assert h.log.count(logging.WARNING, "statement_timeout") == 0, h.log.text()
    assert h.state()["gaps"] and len(h.state()["gaps"]) >= 399


def test_a_gap_lookup_that_times_out_shrinks_and_new_rows_still_ship(pg_server, pg_db, tmp_path):
    with pg_server.connect(pg_db, autocommit=True) as conn:
        # a view whose description costs 1 s for the ids in slow_ids: the rows that fill a gap, here
        conn.execute("CREATE TABLE slow_ids (id int PRIMARY KEY)")
        conn.execute("CREATE FUNCTION slow_desc(i int, d text) RETURNS text LANGUAGE sql STABLE AS $$ "
                     "SELECT CASE WHEN EXISTS (SELECT 1 FROM slow_ids s WHERE s.id = i) "
                     "THEN (SELECT d FROM pg_sleep(1)) ELSE d END $$")
        conn.execute("CREATE VIEW slow_events AS SELECT id, user_id, ipaddr, user_agent, event_name, "
                     "slow_desc(id, description) AS description, created_at FROM user_events")
    h = Harness(tmp_path, pg_server.socket_dsn(pg_db), table="slow_events", statement_timeout=0.3, gap_grace=3600,
                gap_lookup_ranges=4)
    with pg_server.connect(pg_db) as late, pg_server.connect(pg_db) as other:
        late_ids = insert(late, 3)  # ids 1..3, committed late
        with pg_server.connect(pg_db, autocommit=True) as conn:
            fill(conn, 20)
            assert insert(other) == [24]  # committed late too, but quick to read
            fill(conn, 5)
        h.once()
        assert sorted(h.ids()) == list(range(4, 24)) + list(range(25, 30))
        with pg_server.connect(pg_db, autocommit=True) as conn:
            conn.execute("INSERT INTO slow_ids SELECT unnest(%s::int[])", (late_ids,))
        late.commit()
        other.commit()
    with pg_server.connect(pg_db, autocommit=True) as conn:
        fill(conn, 5, "more")
    for _ in range(4):
        h.once()  # each poll: a gap lookup is cancelled, the new rows are read all the same
    # the slow range is passed over: the other gap's row is shipped meanwhile
    assert sorted(h.ids()) == list(range(4, 35))
    # once per run (each once() is a restarted source), not once per try
    assert h.log.count(logging.WARNING, "gap ranges took longer than statement_timeout") == 4, h.log.text()
    assert [g[:2] for g in h.state()["gaps"]] == [[1, 3]]
    with pg_server.connect(pg_db, autocommit=True) as conn:
        conn.execute("DELETE FROM slow_ids")
    h.once()
    assert_exactly_once(h.ids(), list(range(1, 35)))


def test_a_fetch_holds_at_most_max_fetch_bytes(pg_server, pg_db, tmp_path):
    with pg_server.connect(pg_db, autocommit=True) as conn:
        conn.execute("INSERT INTO user_events (event_name, description) "
                     "SELECT 'user login', repeat('x', 40000) || g FROM generate_series(1, 12) g")
    h = Harness(tmp_path, pg_server.socket_dsn(pg_db), max_fetch_bytes=65536)
    h.once()
    assert_exactly_once(h.ids(), list(range(1, 13)))
    sizes = [len(b.records) for b in h.batches if b.records]
    assert max(sizes) == 2 and sum(sizes) == 12, sizes  # the row that crosses 64 KiB ends the fetch


@pytest.mark.parametrize("key, value, message", [
    ("statement_timeout", "0.0004", "below 1 ms, which PostgreSQL would read as no timeout"),
    ("connect_timeout", "1", "libpq reads 0 as no timeout and 1 as 2 seconds"),
    ("connect_timeout", "2.5", "libpq takes whole seconds"),
])
def test_values_the_server_would_read_otherwise_are_refused_with_file_line_and_key(tmp_path, key, value, message):
    cfg = tmp_path / "shipper.yaml"
    cfg.write_text(f"""sources:
  - name: cml
    type: postgres
    parser: cloudera_ai
    dsn: "host=/tmp dbname=x"
    {key}: {value}
outputs:
  - type: stdout
""")
    r = subprocess.run([sys.executable, "-m", "shipper.cli", "check", "-c", str(cfg)], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 2, r.stderr
    assert f"{cfg}:6: sources[0].{key}: " in r.stderr and message in r.stderr, r.stderr


def test_failure_kinds_are_logged_when_they_start_and_when_they_change(pg_server, pg_db, tmp_path):
    pw = tmp_path / "pw"
    pw.write_text("wrong\n")
    h = Harness(tmp_path, pg_server.tcp_url(pg_db), password_file=str(pw), table="audit_events")
    h.start()
    try:
        wait_until(lambda: h.source.failures.report() is not None, timeout=30, what="the first failure")
        time.sleep(1.5)  # several retries: one line only
        assert h.log.count(logging.ERROR, "authentication failed") == 1, h.log.text()
        assert h.source.last_error()["kind"] == "auth" and h.source.last_error()["failing"]
        pw.write_text(PASSWORD + "\n")  # the password fixed, the table still wrong: a new kind, a new line
        wait_until(lambda: h.log.count(logging.ERROR, "(failure changed from auth)") == 1, timeout=30,
                   what="the change of kind")
        assert h.source.last_error()["kind"] == "schema"
        with pg_server.connect(pg_db, autocommit=True) as conn:
            fill(conn, 3)
            conn.execute("ALTER TABLE user_events RENAME TO audit_events")
        wait_until(lambda: len(h.rows) == 3, timeout=30, what="rows once the table is there")
    finally:
        h.stop()
    assert h.log.count(logging.INFO, "database reachable again") == 1
    assert h.source.last_error()["failing"] is False
    assert PASSWORD not in h.log.text()


@pytest.mark.parametrize("restart", [True, False])
def test_a_truncation_refilled_below_the_cursor_while_stopped_loses_nothing(pg_server, pg_db, tmp_path, restart):
    with pg_server.connect(pg_db, autocommit=True) as conn:
        fill(conn, 100)
    h = Harness(tmp_path, pg_server.socket_dsn(pg_db))
    h.once()
    with pg_server.connect(pg_db, autocommit=True) as conn:
        conn.execute("TRUNCATE user_events" + (" RESTART IDENTITY" if restart else ""))
        fill(conn, 20, "new")
    h.once()
    first, later = split(h.rows)
    assert_exactly_once(first, list(range(1, 101)))
    assert_exactly_once(later[1], table_ids(pg_server, pg_db))
    assert h.log.count(logging.WARNING, "was truncated") == 1, h.log.text()


def test_a_stop_cancels_a_query_waiting_on_a_lock(pg_server, pg_db, tmp_path):
    with pg_server.connect(pg_db, autocommit=True) as conn:
        fill(conn, 3)
    h = Harness(tmp_path, pg_server.socket_dsn(pg_db), statement_timeout=120)
    with pg_server.connect(pg_db) as locker:
        locker.execute("LOCK TABLE user_events IN ACCESS EXCLUSIVE MODE")
        h.start()
        wait_until(lambda: h.source.conn is not None, timeout=30, what="the source connected")
        time.sleep(0.5)  # its query now waits for the lock
        h.source.ctx.stop.set()
        h.thread.join(10)
        assert not h.thread.is_alive(), "the stop waited for the statement_timeout"
    h.stop()
    assert h.log.count(logging.WARNING, "") == 0 and h.log.count(logging.ERROR, "") == 0, h.log.text()


def test_a_field_over_max_field_bytes_is_cut_on_the_server_tagged_and_counted(pg_server, pg_db, tmp_path):
    with pg_server.connect(pg_db, autocommit=True) as conn:
        conn.execute("INSERT INTO user_events (event_name, user_agent, description) VALUES "
                     "('user login', 'curl', 'username: alice, ' || repeat('é', 300000)), "
                     "('user login', repeat('M', 5000), 'username: bob')")
    h = Harness(tmp_path, pg_server.socket_dsn(pg_db), max_field_bytes=4096)
    before = metrics.REGISTRY.get_sample_value("shipper_postgres_fields_truncated_total", {"source": NAME}) or 0
    h.once()
    a, b = sorted(h.rows, key=lambda r: r["id"])
    assert a["description"].startswith("username: alice, é") and len(a["description"].encode()) <= 4096
    assert len(a["description"].encode()) > 4000 and not a["description"].endswith("\ufffd")
    assert b["user_agent"] == "M" * 4096 and b["description"] == "username: bob"
    assert not any(k.startswith("_shipper") for r in h.rows for k in r)
    assert [f for batch in h.batches if batch.records for f in batch.flags] == [("_field_truncated",)] * 2
    assert metrics.REGISTRY.get_sample_value("shipper_postgres_fields_truncated_total", {"source": NAME}) == before + 2
    assert h.log.count(logging.WARNING, "longer than max_field_bytes (4096)") == 1, h.log.text()
    events = [ev for r in h.batches[-1].records for ev in ClouderaAIParser().parse(r)]
    assert events[0]["user"]["name"] == "alice"


def test_a_read_of_new_rows_that_times_out_takes_fewer_rows_and_goes_on(pg_server, pg_db, tmp_path):
    with pg_server.connect(pg_db, autocommit=True) as conn:
        # each row of this view costs 0.1 s: 10 rows do not fit in one statement_timeout, 2 do
        conn.execute("CREATE FUNCTION slow_inet(a inet) RETURNS inet LANGUAGE sql STABLE AS "
                     "$$ SELECT a FROM pg_sleep(0.1) $$")
        conn.execute("CREATE VIEW slow_rows AS SELECT id, user_id, slow_inet(ipaddr) AS ipaddr, user_agent, "
                     "event_name, description, created_at FROM user_events")
        fill(conn, 10)
    h = Harness(tmp_path, pg_server.socket_dsn(pg_db), table="slow_rows", statement_timeout=0.35, batch_size=10)
    h.once()
    assert_exactly_once(h.ids(), list(range(1, 11)))
    assert h.log.count(logging.WARNING, "query cancelled after statement_timeout") >= 1, h.log.text()


@pytest.mark.parametrize("how", ["drop", "truncate"])
def test_a_table_that_goes_mid_read_counts_and_names_the_rows_lost(pg_server, pg_db, tmp_path, how):
    """The source read the first 40 of 300 rows when the table was dropped and created again (or truncated
    with its ids restarted) and refilled: the 260 unread rows are gone. The warning used to say "0 ids
    still awaited" and nothing counted them; it now counts them (shipper_losses, source_errors rows_lost)
    and names their ids."""
    with pg_server.connect(pg_db, autocommit=True) as conn:
        fill(conn, 300)
        conn.execute("DELETE FROM user_events WHERE id IN (100, 101, 102)")  # holes are no rows
    h = Harness(tmp_path, pg_server.socket_dsn(pg_db), batch_size=40)
    src = h.make(once=True)
    emit = src.ctx.emit

    def stop_after_first(batch):
        emit(batch)
        src.ctx.stop.set()  # the agent stopped (or the table went) after its first batch

    src.ctx.emit = stop_after_first
    try:
        src.run()
    finally:
        src.close()
    assert sorted(h.ids()) == list(range(1, 41))
    assert src.status()["rows_unread"] == 257 and src.status()["rows_counted_to_id"] == 300  # for `shipper status`
    losses = metrics.REGISTRY.get_sample_value("shipper_losses_total", {"source": NAME}) or 0.0
    lost_rows = metrics.REGISTRY.get_sample_value("shipper_source_errors_total",
                                                  {"source": NAME, "kind": "rows_lost"}) or 0.0
    with pg_server.connect(pg_db, autocommit=True) as conn:
        if how == "drop":
            conn.execute("DROP TABLE user_events")
            conn.execute(USER_EVENTS_DDL)
        else:
            conn.execute("TRUNCATE user_events RESTART IDENTITY")
        fill(conn, 50, "new")
    h.once()
    first, later = split(h.rows)
    assert_exactly_once(first, list(range(1, 41)))
    assert_exactly_once(later[1], list(range(1, 51)))
    assert h.log.count(logging.WARNING, "257 rows of the old table not yet shipped are lost (ids 41..300)") == 1, \
        h.log.text()
    assert metrics.REGISTRY.get_sample_value("shipper_losses_total", {"source": NAME}) == losses + 1
    assert metrics.REGISTRY.get_sample_value("shipper_source_errors_total",
                                             {"source": NAME, "kind": "rows_lost"}) == lost_rows + 257
