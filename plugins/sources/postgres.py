"""`type: postgres` — polls an append-only audit table (Cloudera AI's `user_events`) by its id.

Each poll is one short read-only REPEATABLE READ transaction (statement timeout set inside it):
take the snapshot's xmin/xmax, check that the table is still the one the cursor is about (the cluster's
system identifier, oid, relfilenode, the row at the cursor, the id sequence: a re-created, truncated or
restored table, or another cluster without the row at the cursor, makes the source start over from its
first row, with a warning), look up a chunk of the awaited gaps (by index,
in a savepoint: a lookup that times out is halved, never blocks the rest), read the next `batch_size`
rows above the highest id shipped (at most `max_fetch_bytes` of them, through a server-side cursor),
count a chunk of the rows above them (what a table that goes would lose: the start-over warning counts
them); commit, then emit. The cursor (highest id + gaps, see postgres_cursor) is the
batch's checkpoint, saved only once the batch is acknowledged. No transaction is held open while
the pipeline applies backpressure.

Rows go to the parser as one JSON object each (orjson), keyed by the documented Cloudera AI
column names whatever the table's own names are (`columns`), so the parser does not care where a
row came from. Each row's id is its key; the parser makes it `event.id`, the output's dedup id.

The database down, restarting or refusing connections, a statement timeout, a missing table or
column: logged once per outage (then a summary a minute), counted in
shipper_source_errors{kind=...}, retried with exponential backoff; never a crash. With --once
the source gives up at once on a configuration problem (table, column, password, permission) and
after a few attempts on an unreachable database; the run then exits non-zero with the error.
The password (password_file, else libpq's own PGPASSWORD / .pgpass) never reaches a log line.
"""
from __future__ import annotations

import hashlib
import logging
import os
import random
import socket
import threading
import time
from typing import Any, Literal

import orjson
import psycopg
from psycopg import sql
from psycopg.adapt import Loader
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.pq import Format
from psycopg.rows import dict_row
from pydantic import Field, field_validator, model_validator

from shipper.api import (
    WAIT_MAX,
    EndRun,
    RawBatch,
    Source,
    SourceConfig,
    SourceFailures,
    StrictModel,
    Throttled,
    check_permissions,
    metrics,
)
from shipper_plugins.sources.postgres_cursor import NOTHING_CHECKED, IdCursor

fields_truncated = metrics.counter("shipper_postgres_fields_truncated", "Values longer than max_field_bytes, shipped cut",
                                   ["source"])
table_resets = metrics.counter("shipper_postgres_table_resets", "Times the source started over on a re-created, "
                               "truncated or restored table", ["source"])

STATE_KEY = "cursor"
ANCHOR_COLUMNS = ("created_at", "event_name", "user_id")  # what identifies the row at the cursor (see _anchor)
ONCE_ATTEMPTS = 3  # --once: a database that stays down is an error, not "nothing to read"
TRANSIENT = {"connect", "timeout", "query"}  # worth a retry within one --once run; the rest wait for an operator
FREE_TEXT = ("event_name", "user_agent", "description")  # the columns a row's size hides in (max_field_bytes)
CUT_PREFIX = "_shipper_cut_"
TRUNCATED_TAG = "_field_truncated"
COUNT_CHUNK = 20_000  # rows above the cursor counted per poll at most (an index range, a few ms)
CANCEL_WAIT = 1.0  # seconds a stop waits for a cancelled query to end (and for the cancel to be taken) before cutting it
# Rows come as dicts (psycopg's dict_row); a fetched one is (id, anchor columns, record, flags).
Row = dict[str, Any]
Fetched = tuple[int, Row, bytes, tuple]
GAP_LOOKUP_TRIES = 4  # lookups of missing ids per poll at most (each halving the chunk after a timeout)


class ColumnNames(StrictModel):
    """The table's column for each documented Cloudera AI column; null = the table has none."""

    id: str = "id"
    user_id: str | None = "user_id"
    ipaddr: str | None = "ipaddr"
    user_agent: str | None = "user_agent"
    event_name: str | None = "event_name"
    description: str | None = "description"
    created_at: str | None = "created_at"


class PostgresSourceConfig(SourceConfig):
    type: Literal["postgres"] = "postgres"
    # libpq URL or keyword string; sslmode, sslrootcert, sslcert, … pass through to libpq.
    dsn: str = Field(min_length=1)
    password_file: str | None = None  # read at each connect (rotation-friendly); default: PGPASSWORD/.pgpass
    table: str = "user_events"  # optionally schema-qualified: public.user_events
    columns: ColumnNames = ColumnNames()
    # seconds; at most a year (a longer wait overflows Python's timers and ended the source at its first pause)
    poll_interval: float = Field(default=5.0, gt=0, le=WAIT_MAX)
    # seconds, per statement (at least 0.001; at most PostgreSQL's 2^31-1 ms, more is refused at every poll)
    statement_timeout: float = Field(default=30.0, gt=0, le=2147483.647)
    connect_timeout: int = Field(default=10, ge=2)  # seconds (libpq reads 1 as 2)
    read_from: Literal["beginning", "end"] = "beginning"  # with no checkpoint yet
    gap_grace: float = Field(default=60.0, ge=0)  # seconds a gap is kept at least
    gap_max_age: float = Field(default=86400.0, gt=0)  # seconds after which a gap is abandoned
    max_gaps: int = Field(default=10_000, ge=1)  # gap ranges kept at most
    retry_max: float = Field(default=60.0, gt=0)  # seconds, backoff ceiling
    gap_lookup_ranges: int = Field(default=1000, ge=1)  # gap ranges looked up per poll at most (halved on a timeout)
    # Bytes of rows (as shipped, JSON) one fetch holds at most: a fetch stops there and the rest waits for the next.
    max_fetch_bytes: int = Field(default=32 * 1024 * 1024, ge=64 * 1024)
    # Bytes of one event_name / user_agent / description at most: a longer value is cut on the server, shipped
    # cut and tagged _field_truncated (a 1 GB description must not cost gigabytes here).
    max_field_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)

    @field_validator("statement_timeout")
    @classmethod
    def _statement_timeout(cls, v: float) -> float:
        # sent in whole milliseconds: anything below 1 ms would be "0ms", which PostgreSQL reads as no timeout
        if v < 0.001:
            raise ValueError(f"{v} s is below 1 ms, which PostgreSQL would read as no timeout at all "
                             "(the value is in seconds: 0.5 = 500 ms)")
        return v

    @field_validator("connect_timeout", mode="before")
    @classmethod
    def _connect_timeout(cls, v: Any) -> Any:
        if isinstance(v, float) and not v.is_integer():
            raise ValueError(f"{v}: libpq takes whole seconds (it would cut this to {int(v)})")
        if v in (0, 1):
            raise ValueError(f"{v}: libpq reads 0 as no timeout and 1 as 2 seconds; give 2 or more")
        return v

    @field_validator("dsn")
    @classmethod
    def _dsn(cls, v: str) -> str:
        try:
            parts = conninfo_to_dict(v)
        except psycopg.ProgrammingError as e:
            # libpq's message never quotes the password back
            raise ValueError(f"not a libpq connection string or URL: {e}")
        # libpq splits a URL's user-info at its first '@': an unencoded '@' in the password puts the
        # password's tail into host and port, where every message would show it.
        if any("@" in str(parts.get(k, "")) for k in ("host", "hostaddr", "port")):
            raise ValueError("'@' in the host or port: a password in a URL needs its '@', ':' and '/' "
                             "percent-encoded (%40, %3A, %2F); password_file avoids that")
        return v

    @field_validator("table")
    @classmethod
    def _table(cls, v: str) -> str:
        parts = v.split(".")
        if not 1 <= len(parts) <= 2 or not all(parts):
            raise ValueError("expected table or schema.table")
        return v

    @model_validator(mode="after")
    def _one_password(self):
        if self.password_file and "password" in conninfo_to_dict(self.dsn):
            raise ValueError("dsn holds a password and password_file is set: keep only password_file")
        return self


class SourceProblem(EndRun):
    """An error worth one clear log line (no traceback): what is wrong and which key to look at. Out of
    run() (under --once) the agent logs it as such: an EndRun is a source giving up, not a bug."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


class PostgresSource(Source):
    Config = PostgresSourceConfig
    config: PostgresSourceConfig

    def __init__(self, config: PostgresSourceConfig, ctx):
        super().__init__(config, ctx)
        self.log = ctx.logger or logging.getLogger(f"shipper.source.{ctx.name}")
        self.failures = SourceFailures(self.log, ctx.name)
        self.ahead = Throttled(self.log, 3600.0)
        self.gap_timeouts = Throttled(self.log)
        self.cut = Throttled(self.log, 3600.0)
        self.conn: psycopg.Connection[Row] | None = None
        self.cursor: IdCursor | None = None
        info = conninfo_to_dict(config.dsn)
        self.target = " ".join(f"{k}={info[k]}" for k in ("host", "hostaddr", "port", "dbname", "user") if info.get(k))
        self.target = self.target or "(libpq defaults)"
        self._app_name = "application_name" not in info
        self._queries()
        self.last_poll: float | None = None
        self._standby = False
        self._seq_last: int | None = None  # the id sequence's last value, as the last poll read it
        self._read_limit = config.batch_size  # halved while the read of new rows times out
        self._gap_ranges = config.gap_lookup_ranges  # halved while gap lookups time out
        self._gap_after: int | None = None  # the next gap lookup starts above this id (None: from the lowest)
        self._top: int | None = None  # the table's highest id in the last poll's snapshot
        self._server: str | None = None  # the connected cluster's system identifier (None: not readable)
        self._server_unreadable = Throttled(self.log, 86400.0)
        self.server_changed: dict[str, Any] | None = None  # the last change of cluster seen (for status)
        self._ran_out = threading.Event()  # run() has returned: no query of its left to cut

    # --- SQL -------------------------------------------------------------------------------

    def _queries(self) -> None:
        cols = self.config.columns
        table = sql.SQL(".").join(sql.Identifier(p) for p in self.config.table.split("."))
        self._table_sql = table
        limit = sql.Literal(self.config.max_field_bytes)
        parts = []
        for name, col in cols.model_dump().items():
            if col is None:
                parts.append(sql.SQL("NULL AS {}").format(sql.Identifier(name)))
            elif name in FREE_TEXT:
                # a value over max_field_bytes never leaves the server whole: its first max_field_bytes
                # characters come in a column of their own, the value itself as NULL. Only a value stored in
                # more than 1/256 of the limit (no compression packs more) is measured: octet_length decompresses.
                c = sql.Identifier(col)
                big = sql.SQL("pg_column_size(t.{}) > {} AND octet_length(t.{}::text) > {}").format(
                    c, sql.Literal(self.config.max_field_bytes // 256), c, limit)
                parts.append(sql.SQL("CASE WHEN {} THEN NULL ELSE t.{} END AS {}, "
                                     "CASE WHEN {} THEN left(t.{}::text, {}) END AS {}").format(
                    big, c, sql.Identifier(name), big, c, limit, sql.Identifier(CUT_PREFIX + name)))
            else:
                parts.append(sql.SQL("t.{} AS {}").format(sql.Identifier(col), sql.Identifier(name)))
        select = sql.SQL(", ").join(parts)
        idc = sql.Identifier(cols.id)
        self._query_new = sql.SQL("SELECT {} FROM {} t WHERE t.{} > %s ORDER BY t.{} LIMIT %s").format(
            select, table, idc, idc)
        # One index range scan per gap: LATERAL makes the planner look each range up by the id index
        # (a plain join on BETWEEN may scan the whole table once per range).
        self._query_gaps = sql.SQL(
            "SELECT {} FROM unnest(%s::bigint[], %s::bigint[]) AS g(lo, hi) CROSS JOIN LATERAL "
            "(SELECT * FROM {} x WHERE x.{} BETWEEN g.lo AND g.hi ORDER BY x.{} LIMIT %s) t ORDER BY t.{} LIMIT %s"
        ).format(select, table, idc, idc, idc)
        self._query_max = sql.SQL("SELECT max(t.{}) FROM {} t").format(idc, table)
        # rows above the cursor, counted a chunk a poll by the id index (what a table that goes would lose)
        self._query_count = sql.SQL(
            "SELECT count(*) AS n, max(s.id) AS upto FROM (SELECT t.{} AS id FROM {} t WHERE t.{} > %s AND t.{} <= %s "
            "ORDER BY t.{} LIMIT %s) s").format(idc, table, idc, idc, idc)
        self._query_min = sql.SQL("SELECT min(t.{}) FROM {} t").format(idc, table)
        anchor = sql.SQL(", ").join(
            (sql.SQL("t.{} AS {}").format(sql.Identifier(col), sql.Identifier(name)) if col is not None
             else sql.SQL("NULL AS {}").format(sql.Identifier(name)))
            for name, col in ((n, getattr(cols, n)) for n in ANCHOR_COLUMNS))
        self._query_anchor = sql.SQL("SELECT {} FROM {} t WHERE t.{} = %s").format(anchor, table, idc)
        self._query_below = sql.SQL("SELECT {} FROM {} t WHERE t.{} <= %s ORDER BY t.{} DESC LIMIT 1").format(
            anchor, table, idc, idc)
        # Who the table is now: its oid (DROP + CREATE changes it), relfilenode (TRUNCATE changes it) and
        # the last value of its id sequence, if it has one the user may read (a RESTART puts it below the cursor).
        self._query_ident = sql.SQL(
            "SELECT c.oid::bigint AS oid, pg_relation_filenode(c.oid)::bigint AS node, "
            "CASE WHEN q.seq IS NOT NULL AND has_sequence_privilege(q.seq, 'SELECT,USAGE') "
            "THEN coalesce(pg_sequence_last_value(q.seq), 0) END AS seq_last "
            "FROM (SELECT {}::regclass AS oid) c, (SELECT pg_get_serial_sequence({}, {})::regclass AS seq) q"
        )

    def _ident_query(self, conn: psycopg.Connection[Row]) -> sql.Composed:
        name = self._table_sql.as_string(conn)
        return self._query_ident.format(sql.Literal(name), sql.Literal(name), sql.Literal(self.config.columns.id))

    def _connect(self) -> psycopg.Connection[Row]:
        kwargs: dict[str, Any] = {"connect_timeout": self.config.connect_timeout}
        if self._app_name:
            kwargs["application_name"] = "shipper"
        if self.config.password_file:
            kwargs["password"] = self._read_password(self.config.password_file)
        conn = psycopg.connect(make_conninfo(self.config.dsn, **kwargs), autocommit=False, row_factory=dict_row)
        _load_out_of_range_dates_as_text(conn)
        conn.read_only = True
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        with conn.transaction():
            standby = _first_value(conn.execute("SELECT pg_is_in_recovery()"))
            self._server = self._server_identity(conn)
        if standby and not self._standby:
            self.log.warning("reading from a hot standby: gaps below the cursor are only given up after gap_max_age",
                             extra={"source": self.ctx.name, "target": self.target})
        self._standby = bool(standby)
        return conn

    def _server_identity(self, conn: psycopg.Connection[Row]) -> str | None:
        """The cluster's system identifier: made by initdb, the same on its physical standbys, another for another
        cluster (a second one answering at the same address, a restore into a new one). Read from
        pg_control_system(), which every role may run unless an administrator revoked it (then None, said once a
        day: a cluster swapped under the cursor is then noticed only by the table checks)."""
        try:
            with conn.transaction():  # a savepoint: a refusal leaves the connection's transaction usable
                value = _first_value(conn.execute("SELECT system_identifier FROM pg_control_system()"))
        except (psycopg.errors.InsufficientPrivilege, psycopg.errors.UndefinedFunction) as e:
            self._server_unreadable.failure(
                f"cannot read the server's system identifier ({e.diag.message_primary or e}): another cluster "
                "answering at this address is noticed only by the table checks (oid, relfilenode, the row at the "
                "cursor); GRANT EXECUTE ON FUNCTION pg_control_system() to the source's user to have it checked",
                source=self.ctx.name, kind="server_identity_unreadable", target=self.target)
            return None
        self._server_unreadable.recovered("the server's system identifier is readable again", source=self.ctx.name)
        return str(value)

    def _connect_unless_stopped(self) -> psycopg.Connection[Row] | None:
        """_connect in a thread of its own: libpq's connect cannot be cancelled, and a server that accepts the
        connection and then says nothing (a hung pooler, a half-open path) would hold a stop for
        connect_timeout. None if the stop came first; a connection made after it is closed."""
        lock = threading.Lock()
        box: dict[str, Any] = {}

        def attempt() -> None:
            try:
                conn, error = self._connect(), None
            except BaseException as e:
                conn, error = None, e
            with lock:
                if box.get("abandoned"):
                    if conn is not None:
                        conn.close()
                    return
                box.update(conn=conn, error=error, done=True)

        threading.Thread(target=attempt, name=f"{self.ctx.name}-connect", daemon=True).start()
        while True:
            stopped = self.ctx.stop.wait(0.05)
            with lock:
                if box.get("done"):
                    if box["error"] is not None:
                        raise box["error"]
                    return box["conn"]
                if stopped:
                    box["abandoned"] = True
                    return None

    def _read_password(self, path: str) -> str:
        try:
            with open(path, encoding="utf-8") as f:
                check_permissions(path, os.fstat(f.fileno()), "password")  # warns once if others can read it
                return f.read().rstrip("\r\n")
        except OSError as e:
            raise SourceProblem("password_file", f"cannot read password_file {path}: {e.strerror}") from None

    def _close_conn(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()
            except Exception:
                pass
            self.conn = None

    # --- loop ------------------------------------------------------------------------------

    def run(self) -> None:
        threading.Thread(target=self._cancel_on_stop, name=f"{self.ctx.name}-cancel", daemon=True).start()
        try:
            self._run()
        finally:
            self._ran_out.set()

    def _run(self) -> None:
        stop = self.ctx.stop
        delay = 0.0
        failures = 0
        while not stop.is_set():
            try:
                conn = self.conn
                if conn is None or conn.closed:
                    conn = self.conn = self._connect_unless_stopped()
                    if conn is None:
                        return  # stopped while connecting
                more = self._poll(conn)
            except (psycopg.Error, SourceProblem) as e:
                self._close_conn()
                if stop.is_set():
                    return  # the stop cancelled the query: no failure to report
                kind, message = self._describe_error(e)
                metrics.source_errors.labels(self.ctx.name, kind).inc()
                failures += 1
                if kind == "timeout":  # a smaller read next time: progress must not hang on one big query
                    self._read_limit = max(1, self._read_limit // 2)
                if self.ctx.once and (failures >= ONCE_ATTEMPTS or kind not in TRANSIENT):
                    self.failures.failed(kind, message, level=logging.ERROR, target=self.target)
                    raise SourceProblem(kind, message) from None
                serious = kind not in TRANSIENT  # an operator must act (password, table, permission)
                self.failures.failed(kind, message, level=logging.ERROR if serious else logging.WARNING,
                                     target=self.target)
                delay = min(self.config.retry_max, max(1.0, delay * 2))
                # jitter: many agents must not hammer a restarting database in step
                if stop.wait(delay * random.uniform(0.8, 1.2)):
                    return
                continue
            if failures:
                self.failures.recovered("database reachable again", target=self.target)
            failures, delay = 0, 0.0
            self._read_limit = min(self.config.batch_size, self._read_limit * 2)
            if more:
                continue
            if self.ctx.once or stop.wait(self.config.poll_interval):
                return

    def _cancel_on_stop(self) -> None:
        """A query waiting on a lock or a slow plan must not hold a shutdown for statement_timeout: it is
        cancelled on the server. A server that answers nothing (frozen, a paused VM, a path gone half-open)
        takes no cancel either, so a query still running a moment later is cut at the socket: libpq then reads
        the end of the connection and the query fails at once (run() reads a failure after a stop as the stop)."""
        self.ctx.stop.wait()
        conn = self.conn
        if conn is None or conn.closed:
            return
        try:
            conn.cancel_safe(timeout=CANCEL_WAIT)
        except Exception:
            pass
        if not self._ran_out.wait(CANCEL_WAIT):
            _shut_socket(conn)

    def _describe_error(self, e: Exception) -> tuple[str, str]:
        if isinstance(e, SourceProblem):
            return e.kind, str(e)
        diag = getattr(e, "diag", None)
        detail = (diag.message_primary if diag is not None and diag.message_primary else str(e)).strip()
        if isinstance(e, (psycopg.errors.UndefinedTable, psycopg.errors.InvalidSchemaName)):
            return "schema", f"table {self.config.table!r} not found ({detail}): check the source's `table`"
        if isinstance(e, psycopg.errors.UndefinedColumn):
            return "schema", f"{detail} in table {self.config.table!r}: check the source's `columns`"
        if isinstance(e, psycopg.errors.InsufficientPrivilege):
            return "permission", f"{detail}: the database user needs SELECT on {self.config.table!r}"
        if isinstance(e, psycopg.errors.QueryCanceled):
            return "timeout", f"query cancelled after statement_timeout {self.config.statement_timeout}s: {detail}"
        if isinstance(e, psycopg.errors.InvalidPassword) or "password authentication failed" in detail:
            return "auth", f"authentication failed: {detail}"
        if isinstance(e, psycopg.OperationalError):
            return "connect", f"database unavailable: {detail}"
        return "query", f"{type(e).__name__}: {detail}"

    def _load_cursor(self, cur: psycopg.Cursor[Row]) -> IdCursor:
        state = self.ctx.state.get(STATE_KEY)
        if state is not None:
            try:
                return IdCursor.from_state(state)
            except (ValueError, TypeError) as e:
                raise SourceProblem("state", f"checkpoint {STATE_KEY!r} of source {self.ctx.name} is unreadable: {e}")
        if self.config.read_from == "end":
            cur.execute(self._query_max)
            return IdCursor(int(_first_value(cur) or 0))
        return IdCursor(self._start_id(cur))

    def _fetch(self, conn: psycopg.Connection[Row], query: sql.Composed, params: tuple, limit: int,
               epoch: int) -> tuple[list[Fetched], bool]:
        """Rows of the query as (id, anchor columns, record, flags), through a server-side cursor so that at
        most max_fetch_bytes of them (and one row beyond) are ever held; True if it stopped at that limit."""
        out: list[Fetched] = []
        budget = self.config.max_fetch_bytes
        held = 0
        with conn.cursor(name=f"shipper_{self.ctx.name}_rows") as cur:
            cur.execute(query, params)
            chunk = min(limit, 64)
            while len(out) < limit:
                rows = cur.fetchmany(chunk)
                for r in rows:
                    rid = r["id"]
                    if not isinstance(rid, int):
                        raise SourceProblem("schema", f"column {self.config.columns.id!r} (columns.id) must be an "
                                                      f"integer id, got {type(rid).__name__} {rid!r}")
                    flags = self._cut_fields(r)
                    record = _serialise(r, epoch)
                    held += len(record)
                    out.append((rid, {k: r[k] for k in ANCHOR_COLUMNS}, record, flags))
                    if held >= budget:
                        return out, True
                if len(rows) < chunk:
                    break
                # big rows: fetch fewer at a time, so one fetch never overshoots the budget by much
                chunk = max(1, min(64, limit - len(out), (budget - held) // max(1, held // len(out))))
        return out, False

    def _cut_fields(self, row: Row) -> tuple:
        """Put a value cut by the query (over max_field_bytes) in its place, cut to max_field_bytes of UTF-8."""
        cut = []
        for name in FREE_TEXT:
            value = row.pop(CUT_PREFIX + name, None)
            if value is not None:
                row[name] = value.encode("utf-8")[:self.config.max_field_bytes].decode("utf-8", "ignore")
                cut.append(name)
        if not cut:
            return ()
        fields_truncated.labels(self.ctx.name).inc(len(cut))
        self.cut.failure(f"column(s) {', '.join(cut)} of row {row['id']} longer than max_field_bytes "
                         f"({self.config.max_field_bytes}): shipped cut there and tagged {TRUNCATED_TAG}",
                         source=self.ctx.name, table=self.config.table, kind="field_truncated")
        return (TRUNCATED_TAG,)

    def _check_table(self, cur: psycopg.Cursor[Row], conn: psycopg.Connection[Row],
                     c: IdCursor) -> tuple[str, dict] | None:
        """Whether the table under the cursor `c` is another one (re-created, truncated, restored): what it did."""
        cur.execute(self._ident_query(conn))
        ident = _one_row(cur)
        cur.execute(self._query_max)
        top = _first_value(cur)
        self._top = top
        self._seq_last = ident["seq_last"]
        anchor_row = None
        if c.max_id > 0 and c.anchor is not None:
            cur.execute(self._query_anchor, (c.max_id,))
            anchor_row = cur.fetchone()
        facts = {"oid": ident["oid"], "relfilenode": ident["node"], "max_id": top, "sequence_last": ident["seq_last"],
                 "cursor": c.max_id}
        what = None
        other_row = anchor_row is not None and _anchor(anchor_row) != c.anchor
        if self._server is not None and c.server is not None and self._server != c.server:
            what = self._server_moved(c, anchor_row, other_row, facts)
            if what is not None:
                return what, facts
            c.oid = c.node = None  # another cluster's catalogue: its oid and relfilenode are not comparable
        if self._server is not None:
            c.server = self._server
        if c.oid is not None and ident["oid"] != c.oid:
            what = "was dropped and created again (its oid changed)"
        elif (c.max_id > 0 and c.anchor is not None and c.node is not None and ident["node"] != c.node
              and (other_row or (anchor_row is None and self._old_rows_gone(cur, c)))):
            what = (f"was truncated (new relfilenode; the row {c.max_id} already shipped is "
                    f"{'another one' if other_row else 'gone, and so are the older ones'})")
        elif c.max_id > 0 and c.anchor is not None and other_row:
            what = f"holds another row under the id {c.max_id} already shipped (ids reappear: re-filled or restored)"
        elif (c.max_id > 0 and (top is None or top < c.max_id) and ident["seq_last"] is not None
              and ident["seq_last"] < c.max_id):
            what = (f"was emptied and its id sequence restarted (highest id {top}, sequence at {ident['seq_last']}, "
                    f"below the {c.max_id} already shipped)")
        c.oid, c.node = ident["oid"], ident["node"]
        if what is None:
            if top is not None and top < c.max_id:
                self.ahead.failure("the table's highest id is below the cursor (newest rows deleted?): nothing is "
                                   "read until ids pass the cursor", source=self.ctx.name, table=self.config.table,
                                   kind="cursor_ahead", max_id=top, cursor=c.max_id)
            elif top is not None:
                self.ahead.recovered("the table's ids passed the cursor again", source=self.ctx.name)
            return None
        return what, facts

    def _server_moved(self, c: IdCursor, anchor_row: Row | None, other_row: bool, facts: dict) -> str | None:
        """Another cluster answers for the table under the cursor `c` (its system identifier changed): what that
        is when the source must start over on it (None: it holds the row at the cursor, read on). Said once."""
        facts.update(server=self._server, old_server=c.server)
        metrics.source_errors.labels(self.ctx.name, "server_changed").inc()
        self.server_changed = {"from": c.server, "to": self._server, "at": time.time()}
        where = (f"table {self.config.table}: the server at {self.target} is another PostgreSQL cluster now (system "
                 f"identifier {c.server} → {self._server}: a second cluster on this address, a restore into a new "
                 "one)")
        if c.max_id > 0 and c.anchor is not None and anchor_row is not None and not other_row:
            self.log.warning(f"{where}; it holds the row {c.max_id} already shipped, as shipped: reading on from it",
                             extra={"source": self.ctx.name, "table": self.config.table, "kind": "server_changed",
                                    **facts})
            return None
        if c.anchor is None and c.max_id <= 0 and not c.gaps:
            self.log.warning(f"{where}; no row was shipped from the other one: reading this one",
                             extra={"source": self.ctx.name, "table": self.config.table, "kind": "server_changed",
                                    **facts})
            return None
        held = (("another row under" if other_row else "no row at") + f" the id {c.max_id} already shipped"
                if c.anchor is not None else f"no row shipped yet to compare it by (the cursor is at {c.max_id})")
        return f"is on another PostgreSQL cluster now (system identifier {c.server} → {self._server}), with {held}"

    def _old_rows_gone(self, cur: psycopg.Cursor[Row], c: IdCursor) -> bool:
        """After a rewrite (new relfilenode) without the row at the cursor: are the rows below it gone too
        (a truncation), or only the newest deleted (then VACUUM FULL / CLUSTER rewrote the rest)?"""
        cur.execute(self._query_below, (c.max_id,))
        row = cur.fetchone()
        if row is None:
            return True
        # a row below the cursor written after the last one shipped belongs to a new table
        return c.anchor_time is not None and row["created_at"] is not None and str(row["created_at"]) > c.anchor_time

    def _poll(self, conn: psycopg.Connection[Row]) -> bool:
        """One read transaction, then emit. True if a limit was hit (more rows may be waiting)."""
        limit = self._read_limit
        fresh = self.cursor is None
        with conn.transaction():
            cur = conn.cursor()
            cur.execute("SELECT set_config('statement_timeout', %s, true)",
                        (f"{max(1, round(self.config.statement_timeout * 1000))}ms",))
            cur.execute("SELECT txid_snapshot_xmin(s) AS xmin, txid_snapshot_xmax(s) AS xmax "
                        "FROM txid_current_snapshot() AS s")
            snap = _one_row(cur)
            cursor = self.cursor
            if cursor is None:
                cursor = self.cursor = self._load_cursor(cur)
            before = cursor.to_state()
            reset = self._check_table(cur, conn, cursor)
            if reset is not None:
                cursor = self.cursor = self._started_over(cursor, *reset, self._start_id(cur))
            elif self._seq_last is not None and (cursor.seq_seen is not None or self._seq_last < cursor.max_id):
                self._follow_sequence(cur, cursor)
            filled_rows, full, checked = self._lookup_gaps(conn, cursor, limit)
            new_rows, full_new = self._fetch(conn, self._query_new, (cursor.max_id, limit), limit, cursor.epoch)
            bound = None
            if not self._standby and cursor.creates_gaps([r[0] for r in new_rows]):
                # the horizon of the new gaps: see postgres_cursor, rule 1 (one xid, only when gaps appear)
                cur.execute("SELECT txid_current() AS xid")
                bound = _one_row(cur)["xid"]
            counted = self._count_unread(conn, max([cursor.count_from()] + [r[0] for r in new_rows]))
        now = time.time()
        self.last_poll = now
        filled = set(cursor.fill([r[0] for r in filled_rows]))
        old_max = cursor.max_id
        shipped = set(cursor.advance([r[0] for r in new_rows], bound, now))
        cursor.note_unread(sorted(shipped), old_max, counted, self._top)
        if new_rows and new_rows[-1][0] == cursor.max_id:
            last = new_rows[-1][1]
            cursor.anchor = _anchor(last)
            cursor.anchor_time = None if last["created_at"] is None else str(last["created_at"])
        exp = cursor.expire(snap["xmin"], now, self.config.gap_grace, self.config.gap_max_age, self.config.max_gaps,
                            checked)
        for g in exp.abandoned:
            metrics.source_errors.labels(self.ctx.name, "gap_abandoned").inc()
            self.log.warning(
                "gave up waiting for ids: a row committed later with one of these ids would be missed",
                extra={"source": self.ctx.name, "first_id": g.lo, "last_id": g.hi,
                       "age_s": round(now - g.seen), "snapshot_xmin": snap["xmin"], "gap_xmax": g.xmax},
            )
        rows = [r for r in filled_rows if r[0] in filled] + [r for r in new_rows if r[0] in shipped]
        state = cursor.to_state()
        if rows or state != before or fresh:
            records = [r[2] for r in rows]
            flags = [r[3] for r in rows] if any(r[3] for r in rows) else None
            self.ctx.emit(RawBatch(records, [f"id:{_row_key(r[0], cursor.epoch)}" for r in rows], {STATE_KEY: state},
                                   sum(len(x) for x in records), flags=flags))
        return full or full_new or len(new_rows) >= limit or len(filled_rows) >= limit

    def _follow_sequence(self, cur: psycopg.Cursor[Row], cursor: IdCursor) -> None:
        """The id sequence is below the cursor while the table's rows reach it: a row was written with an id
        above the sequence (by hand, merged from another installation). The rows the application writes next
        take ids below the cursor: each id the sequence hands out is awaited as a gap, said once."""
        seq_last = int(self._seq_last or 0)
        xmax = None
        if not self._standby and cursor.seq_seen is not None and seq_last > cursor.seq_seen:
            cur.execute("SELECT txid_current() AS xid")  # the gap's horizon (postgres_cursor, rule 1)
            xmax = _one_row(cur)["xid"]
        if cursor.follow_sequence(seq_last, xmax, time.time()):
            metrics.source_errors.labels(self.ctx.name, "sequence_behind").inc()
            self.log.warning(f"table {self.config.table}: its id sequence is at {seq_last}, below the {cursor.max_id} "
                             "already shipped (a row was written with an id above the sequence: by hand, or merged "
                             "from elsewhere): the rows written next get ids below the cursor; they are looked up as "
                             "the sequence hands their ids out", extra={"source": self.ctx.name, "kind": "sequence_behind",
                                                                        "sequence_last": seq_last, "cursor": cursor.max_id})

    def _count_unread(self, conn: psycopg.Connection[Row], above: int) -> tuple[int, int] | None:
        """Rows with ids in (above, the table's highest id], at most COUNT_CHUNK of them: (rows, counted up to
        id). In a savepoint: a count cancelled by statement_timeout is tried again next poll, costing nothing else."""
        top = self._top
        if top is None or top <= above:
            return None
        try:
            with conn.transaction():
                row = _one_row(conn.execute(self._query_count, (above, top, COUNT_CHUNK)))
        except psycopg.errors.QueryCanceled:
            return None
        n, upto = row["n"], row["upto"]
        return n, (top if n < COUNT_CHUNK or upto is None else upto)

    def _lookup_gaps(self, conn: psycopg.Connection[Row], cursor: IdCursor,
                     limit: int) -> tuple[list[Fetched], bool, tuple[int, int]]:
        """Rows found in a chunk of the gaps: (rows, stopped at max_fetch_bytes, the id range looked up completely).

        Each try runs in a savepoint, so a lookup cancelled by statement_timeout costs neither the new rows nor
        the transaction: the chunk is halved and tried again (a few times per poll); a single range still too
        slow is passed over until the next round, so one range never holds up the others."""
        for _ in range(GAP_LOOKUP_TRIES):
            chunk = cursor.chunk(self._gap_after, self._gap_ranges)
            if not chunk:
                break
            try:
                with conn.transaction():
                    rows, full = self._fetch(conn, self._query_gaps, ([g.lo for g in chunk], [g.hi for g in chunk],
                                                                      limit, limit), limit, cursor.epoch)
            except psycopg.errors.QueryCanceled:
                metrics.source_errors.labels(self.ctx.name, "gap_lookup_timeout").inc()
                self._gap_ranges = max(1, len(chunk) // 2)
                self.gap_timeouts.failure(
                    f"looking up {len(chunk)} gap ranges took longer than statement_timeout "
                    f"{self.config.statement_timeout}s: looking them up {self._gap_ranges} at a time",
                    source=self.ctx.name, table=self.config.table, kind="gap_lookup_timeout",
                    first_id=chunk[0].lo, last_id=chunk[-1].hi)
                if len(chunk) == 1:
                    if len(cursor.gaps) == 1:
                        break
                    self._gap_after = chunk[0].hi  # passed over this round; looked up again on the next
                continue
            if full or len(rows) >= limit:
                return rows, full, NOTHING_CHECKED  # more rows in this chunk: the same chunk again next poll
            self._gap_after = chunk[-1].hi if len(chunk) < len(cursor.gaps) else None
            self._gap_ranges = min(self.config.gap_lookup_ranges, self._gap_ranges * 2)
            self.gap_timeouts.recovered("gap lookups answer in time again", source=self.ctx.name)
            return rows, full, (chunk[0].lo, chunk[-1].hi)
        return [], False, NOTHING_CHECKED

    def _start_id(self, cur: psycopg.Cursor[Row]) -> int:
        """Where reading from the first row starts: 0, or below the lowest id when ids at or below 0 exist (a
        sequence started low to use its whole range): the cursor reads ids above it only."""
        cur.execute(self._query_min)
        low = _first_value(cur)
        return min(0, low - 1) if isinstance(low, int) else 0

    def _started_over(self, old: IdCursor, what: str, facts: dict, start_id: int = 0) -> IdCursor:
        """The cursor on the new table, after the old one (`old`) `what` (said, with the rows it cost)."""
        self._gap_after = None
        table_resets.labels(self.ctx.name).inc()
        metrics.source_errors.labels(self.ctx.name, "table_reset").inc()
        unread, uncounted, awaited = old.lost_if_gone()
        table = self.config.table
        if unread or uncounted:
            lost = f"{unread} rows of the old table not yet shipped are lost (ids {old.max_id + 1}..{old.count_from()})"
            if uncounted:
                more = f"(ids {old.count_from() + 1}..{old.seen_top}, not counted before the table went)"
                # none counted (a count cut by statement_timeout): no empty id range to name
                lost = (f"{lost}, and up to {uncounted} more {more}" if unread
                        else f"up to {uncounted} rows of the old table not yet shipped are lost {more}")
            metrics.losses.labels(self.ctx.name).inc()
            metrics.source_errors.labels(self.ctx.name, "rows_lost").inc(unread + uncounted)
            self.ctx.lost(f"table {table}: {unread + uncounted} rows, ids {old.max_id + 1}..{old.seen_top}", 0)
        else:
            lost = "every row of the old table it saw was shipped"
        if awaited:
            lost += (f"; {awaited} ids awaited below id {old.max_id} (rows not committed when last read, or never) "
                     "are not looked up any more")
        self.log.warning(
            f"table {table} {what}: starting over from the new table's first row; {lost}; rows "
            f"restored from a backup are shipped again, with ids '<id>-r{old.epoch + 1}' so that an output's "
            f"de-duplication does not take the new rows for the old ones",
            extra={"source": self.ctx.name, "table": table, "kind": "table_reset", "old_cursor": old.max_id,
                   "epoch": old.epoch + 1, "rows_lost": unread, "ids_uncounted": uncounted, "ids_awaited": awaited,
                   **facts})
        return IdCursor(start_id, epoch=old.epoch + 1, oid=facts["oid"], node=facts["relfilenode"], server=self._server)

    # --- introspection -----------------------------------------------------------------------

    def describe(self) -> list[str]:
        lines = [f"postgres {self.target} table {self.config.table}"]
        try:
            with self._connect() as conn:
                with conn.transaction():
                    top = _first_value(conn.execute(self._query_max))
            lines.append(f"  highest id now: {top}")
        except (psycopg.Error, SourceProblem) as e:
            lines.append(f"  error: {self._describe_error(e)[1]}")
        return lines

    def status(self) -> dict[str, Any]:
        c = self.cursor
        return {
            "target": self.target, "table": self.config.table, "last_poll": self.last_poll,
            "max_id": c.max_id if c else None, "gap_ranges": len(c.gaps) if c else 0,
            "ids_awaited": c.missing() if c else 0, "rows_unread": c.unread if c else 0,
            "rows_counted_to_id": c.counted_to if c else None, "connected": self.conn is not None and not self.conn.closed,
            "table_epoch": c.epoch if c else None, "read_limit": self._read_limit, "gap_lookup_ranges": self._gap_ranges,
            "server_system_identifier": self._server, "server_changed": self.server_changed,
        }

    def last_error(self) -> dict[str, Any] | None:
        return self.failures.report()

    def close(self) -> None:
        self._close_conn()


class _LenientDateLoader(Loader):
    """'infinity', '-infinity', BC dates and years past 9999 are valid PostgreSQL dates that Python's datetime
    cannot hold: psycopg's loader raises on them, which failed every fetch holding such a row (the source
    wedged there). Such a value is kept as PostgreSQL's text; every other one loads as before, through
    psycopg's own loader (delegated to: the C one cannot be subclassed)."""

    def __init__(self, oid: int, context=None):
        super().__init__(oid, context)
        inner = psycopg.adapters.get_loader(oid, Format.TEXT)  # the global map is untouched
        if inner is None:  # registered for date, timestamp and timestamptz only, which psycopg always loads
            raise TypeError(f"psycopg has no text loader for type oid {oid}")
        self._inner = inner(oid, context)

    def load(self, data):
        try:
            return self._inner.load(data)
        except psycopg.DataError:
            return bytes(data).decode("utf-8", "replace")


def _shut_socket(conn: psycopg.Connection[Any]) -> None:
    """Shuts the connection's socket both ways (through a duplicate of its descriptor: the connection still
    owns, and closes, its own), waking a read blocked on it. (psycopg has no call for this: close() waits for
    the lock the running query holds.)"""
    try:
        fd = os.dup(conn.fileno())
    except (OSError, psycopg.Error):
        return  # closed meanwhile: nothing to cut
    with socket.socket(fileno=fd) as sock:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _load_out_of_range_dates_as_text(conn: psycopg.Connection[Any]) -> None:
    for name in ("date", "timestamp", "timestamptz"):
        conn.adapters.register_loader(name, _LenientDateLoader)


def _row_key(row_id: int, epoch: int) -> str:
    """The id a row is shipped under: its own, or `<id>-r<n>` once the source started over on a new table
    n times (so a de-duplicating output does not drop the new table's id 5 as the old table's id 5)."""
    return str(row_id) if epoch == 0 else f"{row_id}-r{epoch}"


def _one_row(cur: psycopg.Cursor[Row]) -> Row:
    """The row of a query that always answers one (an aggregate, a function, the table's identity)."""
    row = cur.fetchone()
    if row is None:
        raise SourceProblem("query", "the database answered no row to a query that always returns one")
    return row


def _first_value(cur: psycopg.Cursor[Row]) -> Any:
    """The value of a one-column query that always answers one row."""
    return next(iter(_one_row(cur).values()))


def _anchor(row: Row) -> str:
    """Digest of the columns of a row that never change once written (an UPDATE of a description is no re-creation)."""
    return hashlib.blake2b(orjson.dumps([row.get(k) for k in ANCHOR_COLUMNS], default=str), digest_size=12).hexdigest()


def _serialise(row: Row, epoch: int = 0) -> bytes:
    if epoch:
        row = {**row, "id": _row_key(row["id"], epoch)}
    try:
        # datetimes as ISO 8601 (naive stays naive: the parser applies the source's timezone),
        # UUIDs natively; inet, numeric and the like as their text form.
        return orjson.dumps(row, default=str)
    except TypeError:  # an integer beyond 64 bits and the like: text rather than no record
        return orjson.dumps({k: v if isinstance(v, (str, bool, type(None))) else str(v) for k, v in row.items()})
