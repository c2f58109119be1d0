"""The postgres source against a real, throwaway PostgreSQL 15 (tests/pg_cluster.py)."""
from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from collections import Counter

import orjson
import psycopg
import pytest
from pydantic import ValidationError

from shipper import metrics
from shipper.checkpoint import CheckpointStore
from shipper.plugin import RawBatch, SourceContext
from shipper_plugins.parsers.cloudera_ai import ClouderaAIParser
from shipper_plugins.sources.postgres import PostgresSource, PostgresSourceConfig, SourceProblem
from tests.pg_cluster import PASSWORD

NAME = "cml"


class ListHandler(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        self.records.append(record)

    def text(self) -> str:
        return "\n".join(f"{r.getMessage()} {r.__dict__}" for r in self.records)

    def count(self, level: int, fragment: str) -> int:
        return sum(1 for r in self.records if r.levelno == level and fragment in r.getMessage())


class Harness:
    """Runs the source the way the pipeline does, acknowledging each batch at once: its checkpoint
    goes into a real CheckpointStore, which a restarted source loads."""

    _stores: dict[str, CheckpointStore] = {}  # one per state dir (it is locked): harnesses of one test share it

    def __init__(self, tmp_path, dsn: str, **cfg):
        path = str(tmp_path / "state")
        self.store = self._stores.get(path) or self._stores.setdefault(path, CheckpointStore(path))
        self.state_dir = str(tmp_path / "state")
        self.cfg = {"name": NAME, "type": "postgres", "parser": "cloudera_ai", "dsn": dsn, "poll_interval": 0.05,
                    "gap_grace": 0.2, "retry_max": 1.0, **cfg}
        self.rows: list[dict] = []
        self.batches: list[RawBatch] = []
        self.lock = threading.Lock()
        self.logger = logging.getLogger(f"test.pg.{uuid.uuid4().hex}")
        self.logger.setLevel(logging.DEBUG)
        self.logger.propagate = False
        self.log = ListHandler()
        self.logger.addHandler(self.log)
        self.source: PostgresSource | None = None
        self.thread: threading.Thread | None = None
        self.error: BaseException | None = None

    def _emit(self, batch: RawBatch) -> None:
        with self.lock:
            self.batches.append(batch)
            self.rows.extend(orjson.loads(r) for r in batch.records)
            self.store.update(NAME, batch.checkpoint)

    def make(self, once: bool) -> PostgresSource:
        ctx = SourceContext(name=NAME, emit=self._emit, stop=threading.Event(), once=once,
                            state=self.store.load(NAME), state_dir=self.state_dir, logger=self.logger)
        return PostgresSource(PostgresSourceConfig(**self.cfg), ctx)

    def once(self) -> PostgresSource:
        s = self.make(once=True)
        try:
            s.run()
        finally:
            s.close()
        return s

    def start(self) -> None:
        self.source = self.make(once=False)

        def run():
            try:
                self.source.run()
            except BaseException as e:  # the test asserts there was none
                self.error = e

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.source.ctx.stop.set()
        self.thread.join(60)
        assert not self.thread.is_alive(), "the source did not stop"
        self.source.close()
        assert self.error is None, f"the source raised {self.error!r}"

    def ids(self) -> list[int]:
        with self.lock:
            return [r["id"] for r in self.rows]

    def state(self) -> dict:
        return self.store.load(NAME)["cursor"]


def insert(conn, n: int = 1, event: str = "user login", description: str = "username: alice, user type: NORMAL") -> list[int]:
    ids = []
    for _ in range(n):
        row = conn.execute(
            "INSERT INTO user_events (user_id, ipaddr, user_agent, event_name, description) "
            "VALUES (gen_random_uuid(), '10.1.2.3', 'Mozilla/5.0', %s, %s) RETURNING id", (event, description)
        ).fetchone()
        ids.append(row[0])
    return ids


def table_ids(pg_server, db) -> list[int]:
    with pg_server.connect(db) as conn:
        return [r[0] for r in conn.execute("SELECT id FROM user_events ORDER BY id")]


def assert_exactly_once(shipped: list[int], truth: list[int]) -> None:
    dup = {i: c for i, c in Counter(shipped).items() if c > 1}
    assert not dup, f"shipped more than once: {dup}"
    missing = sorted(set(truth) - set(shipped))
    extra = sorted(set(shipped) - set(truth))
    assert not missing and not extra, f"missing {missing[:20]} ({len(missing)}), not in table {extra[:20]}"


def test_rows_are_shipped_as_canonical_json_and_a_restart_resumes_exactly(pg_server, pg_db, tmp_path, assert_ecs):
    h = Harness(tmp_path, pg_server.socket_dsn(pg_db), batch_size=7)
    with pg_server.connect(pg_db, autocommit=True) as conn:
        first = insert(conn, 20)
    h.once()
    assert h.ids() == first
    row = h.rows[0]
    assert set(row) == {"id", "user_id", "ipaddr", "user_agent", "event_name", "description", "created_at"}
    assert row["ipaddr"] == "10.1.2.3" and row["event_name"] == "user login"
    assert len(h.batches) >= 3, "batch_size 7 must split 20 rows"
    assert h.state()["max_id"] == first[-1] and h.state()["gaps"] == []

    # what the source ships, the parser reads: a full ECS event per row
    ev = ClouderaAIParser({"timezone": "UTC"}).parse(h.batches[0].records[0])[0]
    assert_ecs(ev, "cloudera_ai")
    assert ev["event"]["id"] == str(first[0]) and ev["source"]["ip"] == "10.1.2.3"
    assert ev["user"]["name"] == "alice" and ev["user"]["id"] == row["user_id"]

    h.once()  # nothing new: nothing shipped again
    assert h.ids() == first
    with pg_server.connect(pg_db, autocommit=True) as conn:
        second = insert(conn, 5)
    h.once()  # a new source instance, from the stored checkpoint
    assert h.ids() == first + second


def test_a_lower_id_committed_late_is_shipped_once(pg_server, pg_db, tmp_path):
    h = Harness(tmp_path, pg_server.socket_dsn(pg_db), gap_grace=0)
    with pg_server.connect(pg_db) as slow, pg_server.connect(pg_db, autocommit=True) as fast:
        held = insert(slow)  # transaction left open: its id is taken, its row invisible
        later = insert(fast, 2)
        assert held[0] < later[0]
        h.once()
        assert h.ids() == later
        assert h.state()["gaps"][0][:2] == [held[0], held[0]]
        h.once()  # still open: the gap is kept even with no grace (its transaction has not ended)
        assert h.state()["gaps"] and h.ids() == later
        slow.commit()
        h.once()
        assert h.ids() == later + held
        assert h.state()["gaps"] == []
        h.once()
        assert h.ids() == later + held


def test_an_id_taken_late_by_an_older_transaction_keeps_the_gap_open(pg_server, pg_db, tmp_path):
    # R has its transaction id before T, T takes the lower row id, R commits the higher id first.
    # The snapshot's own xmax would not cover T (it is "latest completed + 1"): T runs unlisted.
    h = Harness(tmp_path, pg_server.socket_dsn(pg_db), gap_grace=0)
    with pg_server.connect(pg_db) as r, pg_server.connect(pg_db) as t:
        r.execute("SELECT txid_current()")
        held = insert(t)
        later = insert(r)
        r.commit()
        for _ in range(3):
            h.once()
        assert h.ids() == later and h.state()["gaps"][0][:2] == [held[0], held[0]]
        t.commit()
    h.once()
    assert h.ids() == later + held and h.state()["gaps"] == []


def test_a_rolled_back_id_closes_its_gap_without_a_warning(pg_server, pg_db, tmp_path):
    h = Harness(tmp_path, pg_server.socket_dsn(pg_db), gap_grace=0)
    with pg_server.connect(pg_db) as slow, pg_server.connect(pg_db, autocommit=True) as fast:
        insert(slow)
        later = insert(fast)
        h.once()
        assert len(h.state()["gaps"]) == 1
        slow.rollback()
    h.once()
    assert h.state()["gaps"] == [] and h.ids() == later
    assert h.log.count(logging.WARNING, "") == 0, h.log.text()


def test_grace_covers_an_id_taken_before_its_transaction_has_an_xid(pg_server, pg_db, tmp_path):
    # The id default is evaluated before BEFORE triggers; the row (and the xid) comes after them.
    with pg_server.connect(pg_db, autocommit=True) as conn:
        conn.execute("""
            CREATE FUNCTION slow_insert() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN IF NEW.description = 'slow' THEN PERFORM pg_sleep(2); END IF; RETURN NEW; END $$;
            CREATE TRIGGER slow BEFORE INSERT ON user_events FOR EACH ROW EXECUTE FUNCTION slow_insert();
        """)
    h = Harness(tmp_path, pg_server.socket_dsn(pg_db), gap_grace=5)
    with pg_server.connect(pg_db, autocommit=True) as conn:
        conn.execute("SELECT 1")
    slow_ids: list[int] = []

    def slow_writer():
        with pg_server.connect(pg_db, autocommit=True) as c:
            slow_ids.extend(insert(c, description="slow"))

    t = threading.Thread(target=slow_writer)
    t.start()
    time.sleep(0.5)  # the slow insert holds its id, in the trigger
    with pg_server.connect(pg_db, autocommit=True) as conn:
        later = insert(conn)
    for _ in range(5):
        h.once()
        time.sleep(0.1)
    t.join(30)
    h.once()
    assert sorted(h.ids()) == sorted(slow_ids + later)


def test_a_gap_past_max_age_is_abandoned_loudly(pg_server, pg_db, tmp_path):
    h = Harness(tmp_path, pg_server.socket_dsn(pg_db), gap_grace=0, gap_max_age=0.5)
    before = metrics.REGISTRY.get_sample_value("shipper_source_errors_total", {"source": NAME, "kind": "gap_abandoned"}) or 0
    with pg_server.connect(pg_db) as slow, pg_server.connect(pg_db, autocommit=True) as fast:
        held = insert(slow)
        insert(fast)
        h.once()
        time.sleep(0.7)
        h.once()
        assert h.state()["gaps"] == []
        assert h.log.count(logging.WARNING, "gave up waiting for ids") == 1
        rec = next(r for r in h.log.records if "gave up" in r.getMessage())
        assert rec.first_id == held[0] and rec.last_id == held[0]
        slow.rollback()
    after = metrics.REGISTRY.get_sample_value("shipper_source_errors_total", {"source": NAME, "kind": "gap_abandoned"})
    assert after == before + 1


def test_concurrent_writers_out_of_id_order_with_restarts_ship_every_row_once(pg_server, pg_db, tmp_path):
    h = Harness(tmp_path, pg_server.socket_dsn(pg_db), gap_grace=0.3, batch_size=13, poll_interval=0.02)
    stop = threading.Event()
    errors: list[BaseException] = []

    def writer(seed: int):
        rnd = random.Random(seed)
        try:
            with pg_server.connect(pg_db) as conn:
                while not stop.is_set():
                    # an xid first: the grace rule (separate test) is then never what saves a row here,
                    # so every hold below exercises the transaction-horizon rule
                    conn.execute("SELECT txid_current()")
                    insert(conn, rnd.randint(1, 3), event=rnd.choice(["user login", "file deleted", "job started"]))
                    time.sleep(rnd.uniform(0, 0.5))
                    conn.rollback() if rnd.random() < 0.2 else conn.commit()
        except BaseException as e:
            errors.append(e)

    writers = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
    for w in writers:
        w.start()
    for _ in range(5):  # the agent is restarted (clean stop) while writers go on
        h.start()
        time.sleep(0.6)
        h.stop()
    stop.set()
    for w in writers:
        w.join(30)
    assert not errors, errors
    truth = table_ids(pg_server, pg_db)
    deadline = time.monotonic() + 30
    h.once()  # rows committed after the last stop
    while h.state()["gaps"] and time.monotonic() < deadline:
        time.sleep(0.1)
        h.once()
    assert h.state()["gaps"] == []
    assert_exactly_once(h.ids(), truth)
    assert len(truth) > 20
    assert h.ids() != sorted(h.ids()), "writers were expected to commit out of id order at least once"


def test_database_restarted_mid_poll_is_retried_and_logged_once_per_outage(pg_server, pg_db, tmp_path):
    h = Harness(tmp_path, pg_server.socket_dsn(pg_db), gap_grace=0.3, batch_size=5, poll_interval=0.02)
    stop = threading.Event()

    def writer(seed: int):
        rnd = random.Random(seed)
        while not stop.is_set():
            try:
                with pg_server.connect(pg_db, connect_timeout=5) as conn:
                    while not stop.is_set():
                        insert(conn, rnd.randint(1, 2))
                        time.sleep(rnd.uniform(0, 0.05))
                        conn.commit()
            except psycopg.Error:
                time.sleep(0.1)  # the server is restarting; a commit may or may not have happened

    writers = [threading.Thread(target=writer, args=(i,)) for i in range(2)]
    for w in writers:
        w.start()
    h.start()
    time.sleep(1.0)
    pg_server.restart("fast")
    time.sleep(2.5)
    pg_server.restart("immediate")  # a crash: sequences may jump, in-flight transactions vanish
    time.sleep(2.5)
    stop.set()
    for w in writers:
        w.join(30)
    truth = table_ids(pg_server, pg_db)
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        ids = h.ids()
        if ids and max(ids) == truth[-1] and not h.source.cursor.gaps:
            break
        time.sleep(0.1)
    h.stop()
    assert_exactly_once(h.ids(), truth)
    outages = h.log.count(logging.WARNING, "database unavailable")
    assert 1 <= outages <= 2, h.log.text()
    assert h.log.count(logging.INFO, "database reachable again") == outages
    assert h.log.count(logging.WARNING, "still failing") == 0


def test_missing_table_or_column_is_a_clear_error(pg_server, pg_db, tmp_path):
    h = Harness(tmp_path, pg_server.socket_dsn(pg_db), table="cml.user_events")
    with pytest.raises(SourceProblem) as e:
        h.once()
    assert e.value.kind == "schema" and "'cml.user_events' not found" in str(e.value) and "`table`" in str(e.value)

    h = Harness(tmp_path, pg_server.socket_dsn(pg_db), columns={"ipaddr": "ip_address"})
    with pytest.raises(SourceProblem) as e:
        h.once()
    assert "ip_address" in str(e.value) and "`columns`" in str(e.value)

    # running as a service: logged once, retried, and it picks up once the table is there
    h = Harness(tmp_path, pg_server.socket_dsn(pg_db), table="audit.events")
    h.start()
    time.sleep(2.0)
    assert h.log.count(logging.ERROR, "not found") == 1, h.log.text()
    with pg_server.connect(pg_db, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA audit")
        conn.execute("CREATE TABLE audit.events (LIKE public.user_events INCLUDING ALL)")
        conn.execute("INSERT INTO audit.events (id, event_name) VALUES (1, 'user logout')")
    deadline = time.monotonic() + 20
    while not h.ids() and time.monotonic() < deadline:
        time.sleep(0.1)
    h.stop()
    assert h.ids() == [1]


def test_other_schemas_by_column_names_and_absent_columns(pg_server, pg_db, tmp_path):
    with pg_server.connect(pg_db, autocommit=True) as conn:
        conn.execute('CREATE TABLE "Audit Log" (seq bigint PRIMARY KEY, who text, action text, at timestamptz)')
        conn.execute('INSERT INTO "Audit Log" VALUES (7, \'u-1\', \'project created\', \'2024-05-01 12:00:00+02\')')
    h = Harness(tmp_path, pg_server.socket_dsn(pg_db), table="public.Audit Log",
                columns={"id": "seq", "user_id": "who", "event_name": "action", "created_at": "at",
                         "ipaddr": None, "user_agent": None, "description": None})
    h.once()
    assert h.rows == [{"id": 7, "user_id": "u-1", "ipaddr": None, "user_agent": None, "event_name": "project created",
                       "description": None, "created_at": h.rows[0]["created_at"]}]
    ev = ClouderaAIParser().parse(h.batches[-1].records[0])[0]
    assert ev["@timestamp"] == "2024-05-01T10:00:00.000Z"  # timestamptz: the offset travels with it


def test_read_from_end_starts_after_the_rows_already_there(pg_server, pg_db, tmp_path):
    with pg_server.connect(pg_db, autocommit=True) as conn:
        insert(conn, 3)
        h = Harness(tmp_path, pg_server.socket_dsn(pg_db), read_from="end")
        h.once()
        assert h.ids() == [] and h.state()["max_id"] == 3  # the start point is saved at once
        new = insert(conn, 2)
    h.once()
    assert h.ids() == new


def test_password_file_over_tcp_and_the_password_is_never_logged(pg_server, pg_db, tmp_path):
    good = tmp_path / "pw"
    good.write_text(PASSWORD + "\n")
    bad = tmp_path / "bad"
    bad.write_text("wrong-" + PASSWORD)
    with pg_server.connect(pg_db, autocommit=True) as conn:
        ids = insert(conn, 2)

    h = Harness(tmp_path, pg_server.tcp_url(pg_db), password_file=str(bad))
    with pytest.raises(SourceProblem) as e:
        h.once()
    assert e.value.kind == "auth"
    h.log.records.clear()
    h.start()
    time.sleep(1.5)
    h.stop()
    assert h.log.count(logging.ERROR, "authentication failed") == 1
    assert PASSWORD not in h.log.text() and PASSWORD not in str(e.value)

    h = Harness(tmp_path, pg_server.tcp_url(pg_db), password_file=str(tmp_path / "absent"))
    with pytest.raises(SourceProblem, match="cannot read password_file .*absent"):
        h.once()

    h = Harness(tmp_path, pg_server.tcp_url(pg_db), password_file=str(good))
    h.once()
    assert h.ids() == ids
    assert PASSWORD not in h.log.text()
    assert PASSWORD not in " ".join(h.make(once=True).describe())


def test_the_database_user_is_read_only_inside_the_source(pg_server, pg_db, tmp_path):
    h = Harness(tmp_path, pg_server.socket_dsn(pg_db))
    s = h.make(once=True)
    conn = s._connect()
    try:
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            with conn.transaction():
                conn.execute("INSERT INTO user_events (event_name) VALUES ('x')")
    finally:
        conn.close()


def test_statement_timeout_is_reported_and_retried(pg_server, pg_db, tmp_path):
    h = Harness(tmp_path, pg_server.socket_dsn(pg_db), statement_timeout=0.2)
    with pg_server.connect(pg_db) as locker:
        locker.execute("LOCK TABLE user_events IN ACCESS EXCLUSIVE MODE")
        with pytest.raises(SourceProblem) as e:
            h.once()
    assert e.value.kind == "timeout" and "statement_timeout" in str(e.value)


def test_config_is_strict():
    base = {"name": NAME, "type": "postgres", "parser": "cloudera_ai", "dsn": "host=/tmp dbname=sense"}
    PostgresSourceConfig(**base)
    with pytest.raises(ValidationError, match="Extra inputs"):
        PostgresSourceConfig(**base, passwd="x")
    with pytest.raises(ValidationError, match="Extra inputs"):
        PostgresSourceConfig(**base, columns={"ip": "x"})
    with pytest.raises(ValidationError, match="keep only password_file"):
        PostgresSourceConfig(**{**base, "dsn": "postgresql://u:pw@db/sense"}, password_file="/x")
    with pytest.raises(ValidationError, match="connection string"):
        PostgresSourceConfig(**{**base, "dsn": "host=db dbname"})
    with pytest.raises(ValidationError, match="schema.table"):
        PostgresSourceConfig(**base, table="a.b.c")
