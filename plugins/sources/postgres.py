"""`type: postgres` — polls an append-only audit table (Cloudera AI's `user_events`) by its id.

Each poll is one short read-only REPEATABLE READ transaction (statement timeout set inside it):
take the snapshot's xmin/xmax, look up the awaited gaps, read the next `batch_size` rows above the
highest id shipped; commit, then emit. The cursor (highest id + gaps, see postgres_cursor) is the
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

import logging
import random
import time
from typing import Any, Literal

import orjson
import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import dict_row
from pydantic import Field, field_validator, model_validator

from shipper import metrics
from shipper.config_base import SourceConfig, StrictModel
from shipper.log import Throttled
from shipper.plugin import RawBatch, Source
from shipper_plugins.sources.postgres_cursor import IdCursor

STATE_KEY = "cursor"
ONCE_ATTEMPTS = 3  # --once: a database that stays down is an error, not "nothing to read"
TRANSIENT = {"connect", "timeout", "query"}  # worth a retry within one --once run; the rest wait for an operator


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
    poll_interval: float = Field(default=5.0, gt=0)
    statement_timeout: float = Field(default=30.0, gt=0)  # seconds, per statement
    connect_timeout: int = Field(default=10, ge=1)  # seconds
    read_from: Literal["beginning", "end"] = "beginning"  # with no checkpoint yet
    gap_grace: float = Field(default=60.0, ge=0)  # seconds a gap is kept at least
    gap_max_age: float = Field(default=86400.0, gt=0)  # seconds after which a gap is abandoned
    max_gaps: int = Field(default=10_000, ge=1)  # gap ranges kept at most
    retry_max: float = Field(default=60.0, gt=0)  # seconds, backoff ceiling

    @field_validator("dsn")
    @classmethod
    def _dsn(cls, v: str) -> str:
        try:
            conninfo_to_dict(v)
        except psycopg.ProgrammingError as e:
            # libpq's message never quotes the password back
            raise ValueError(f"not a libpq connection string or URL: {e}")
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


class SourceProblem(Exception):
    """An error worth one clear log line (no traceback): what is wrong and which key to look at."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


class PostgresSource(Source):
    Config = PostgresSourceConfig

    def __init__(self, config: PostgresSourceConfig, ctx):
        super().__init__(config, ctx)
        self.log = ctx.logger or logging.getLogger(f"shipper.source.{ctx.name}")
        self.outage = Throttled(self.log)
        self.ahead = Throttled(self.log, 3600.0)
        self.conn: psycopg.Connection | None = None
        self.cursor: IdCursor | None = None
        info = conninfo_to_dict(config.dsn)
        self.target = " ".join(f"{k}={info[k]}" for k in ("host", "hostaddr", "port", "dbname", "user") if info.get(k))
        self.target = self.target or "(libpq defaults)"
        self._app_name = "application_name" not in info
        self._query_new, self._query_gaps, self._query_max = self._queries()
        self.last_poll: float | None = None
        self._standby = False

    # --- SQL -------------------------------------------------------------------------------

    def _queries(self) -> tuple[sql.Composed, sql.Composed, sql.Composed]:
        cols = self.config.columns
        table = sql.SQL(".").join(sql.Identifier(p) for p in self.config.table.split("."))
        select = sql.SQL(", ").join(
            (sql.SQL("t.{} AS {}").format(sql.Identifier(col), sql.Identifier(name)) if col is not None
             else sql.SQL("NULL AS {}").format(sql.Identifier(name)))
            for name, col in cols.model_dump().items()
        )
        idc = sql.Identifier(cols.id)
        new = sql.SQL("SELECT {} FROM {} t WHERE t.{} > %s ORDER BY t.{} LIMIT %s").format(select, table, idc, idc)
        # One index range scan per gap (a nested loop over the unnested bounds).
        gaps = sql.SQL(
            "SELECT {} FROM unnest(%s::bigint[], %s::bigint[]) AS g(lo, hi) JOIN {} t ON t.{} BETWEEN g.lo AND g.hi "
            "ORDER BY t.{} LIMIT %s"
        ).format(select, table, idc, idc)
        top = sql.SQL("SELECT max(t.{}) FROM {} t").format(idc, table)
        return new, gaps, top

    def _connect(self) -> psycopg.Connection:
        kwargs: dict[str, Any] = {"connect_timeout": self.config.connect_timeout}
        if self._app_name:
            kwargs["application_name"] = "shipper"
        if self.config.password_file:
            kwargs["password"] = self._read_password()
        conn = psycopg.connect(make_conninfo(self.config.dsn, **kwargs), autocommit=False, row_factory=dict_row)
        conn.read_only = True
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        with conn.transaction():
            standby = next(iter(conn.execute("SELECT pg_is_in_recovery()").fetchone().values()))
        if standby and not self._standby:
            self.log.warning("reading from a hot standby: gaps below the cursor are only given up after gap_max_age",
                             extra={"source": self.ctx.name, "target": self.target})
        self._standby = bool(standby)
        return conn

    def _read_password(self) -> str:
        path = self.config.password_file
        try:
            with open(path, encoding="utf-8") as f:
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
        stop = self.ctx.stop
        delay = 0.0
        failures = 0
        while not stop.is_set():
            try:
                if self.conn is None or self.conn.closed:
                    self.conn = self._connect()
                more = self._poll()
            except (psycopg.Error, SourceProblem) as e:
                self._close_conn()
                kind, message = self._describe_error(e)
                metrics.source_errors.labels(self.ctx.name, kind).inc()
                failures += 1
                if self.ctx.once and (failures >= ONCE_ATTEMPTS or kind not in TRANSIENT):
                    raise SourceProblem(kind, message) from None
                self.outage.failure(message, source=self.ctx.name, target=self.target, kind=kind)
                delay = min(self.config.retry_max, max(1.0, delay * 2))
                # jitter: many agents must not hammer a restarting database in step
                if stop.wait(delay * random.uniform(0.8, 1.2)):
                    return
                continue
            if failures:
                self.outage.recovered("database reachable again", source=self.ctx.name, target=self.target)
            failures, delay = 0, 0.0
            if more:
                continue
            if self.ctx.once or stop.wait(self.config.poll_interval):
                return

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

    def _load_cursor(self, cur: psycopg.Cursor) -> None:
        state = self.ctx.state.get(STATE_KEY)
        if state is not None:
            try:
                self.cursor = IdCursor.from_state(state)
                return
            except (ValueError, TypeError) as e:
                raise SourceProblem("state", f"checkpoint {STATE_KEY!r} of source {self.ctx.name} is unreadable: {e}")
        if self.config.read_from == "end":
            cur.execute(self._query_max)
            top = next(iter(cur.fetchone().values()))
            self.cursor = IdCursor(int(top or 0))
        else:
            self.cursor = IdCursor(0)

    def _poll(self) -> bool:
        """One read transaction, then emit. True if a limit was hit (more rows may be waiting)."""
        conn = self.conn
        limit = self.config.batch_size
        fresh = self.cursor is None
        with conn.transaction():
            cur = conn.cursor()
            cur.execute("SELECT set_config('statement_timeout', %s, true)",
                        (f"{int(self.config.statement_timeout * 1000)}ms",))
            cur.execute("SELECT txid_snapshot_xmin(s) AS xmin, txid_snapshot_xmax(s) AS xmax "
                        "FROM txid_current_snapshot() AS s")
            snap = cur.fetchone()
            if fresh:
                self._load_cursor(cur)
            cursor = self.cursor
            filled_rows: list[dict] = []
            if cursor.gaps:
                lo, hi = cursor.ranges()
                cur.execute(self._query_gaps, (lo, hi, limit))
                filled_rows = cur.fetchall()
            cur.execute(self._query_new, (cursor.max_id, limit))
            new_rows = cur.fetchall()
            _check_ids(filled_rows + new_rows, self.config.columns.id)
            bound = None
            if not self._standby and cursor.creates_gaps([r["id"] for r in new_rows]):
                # the horizon of the new gaps: see postgres_cursor, rule 1 (one xid, only when gaps appear)
                cur.execute("SELECT txid_current() AS xid")
                bound = cur.fetchone()["xid"]
            top = None
            if not new_rows:
                cur.execute(self._query_max)
                top = next(iter(cur.fetchone().values()))
        now = time.time()
        self.last_poll = now
        before = cursor.to_state()
        filled = set(cursor.fill([r["id"] for r in filled_rows]))
        shipped = set(cursor.advance([r["id"] for r in new_rows], bound, now))
        if len(filled_rows) < limit:  # every gap was looked up in this snapshot
            exp = cursor.expire(snap["xmin"], now, self.config.gap_grace, self.config.gap_max_age, self.config.max_gaps)
            for g in exp.abandoned:
                metrics.source_errors.labels(self.ctx.name, "gap_abandoned").inc()
                self.log.warning(
                    "gave up waiting for ids: a row committed later with one of these ids would be missed",
                    extra={"source": self.ctx.name, "first_id": g.lo, "last_id": g.hi,
                           "age_s": round(now - g.seen), "snapshot_xmin": snap["xmin"], "gap_xmax": g.xmax},
                )
        if top is not None and top < cursor.max_id:
            self.ahead.failure("the table's highest id is below the cursor: table truncated or restored? "
                                "nothing is read until ids pass the cursor", source=self.ctx.name,
                                kind="cursor_ahead", max_id=top, cursor=cursor.max_id)
        elif new_rows:
            self.ahead.recovered("the table's ids passed the cursor again", source=self.ctx.name)
        rows = [r for r in filled_rows if r["id"] in filled] + [r for r in new_rows if r["id"] in shipped]
        state = cursor.to_state()
        if rows or state != before or fresh:
            records = [_serialise(r) for r in rows]
            self.ctx.emit(RawBatch(records, [f"id:{r['id']}" for r in rows], {STATE_KEY: state},
                                   sum(len(x) for x in records)))
        return len(new_rows) >= limit or len(filled_rows) >= limit

    # --- introspection -----------------------------------------------------------------------

    def describe(self) -> list[str]:
        lines = [f"postgres {self.target} table {self.config.table}"]
        try:
            with self._connect() as conn:
                with conn.transaction():
                    row = conn.execute(self._query_max).fetchone()
            lines.append(f"  highest id now: {next(iter(row.values()))}")
        except (psycopg.Error, SourceProblem) as e:
            lines.append(f"  error: {self._describe_error(e)[1]}")
        return lines

    def status(self) -> dict[str, Any]:
        c = self.cursor
        return {
            "target": self.target, "table": self.config.table, "last_poll": self.last_poll,
            "max_id": c.max_id if c else None, "gap_ranges": len(c.gaps) if c else 0,
            "ids_awaited": c.missing() if c else 0, "connected": self.conn is not None and not self.conn.closed,
        }

    def close(self) -> None:
        self._close_conn()


def _check_ids(rows: list[dict], column: str) -> None:
    for r in rows:
        if not isinstance(r["id"], int):
            raise SourceProblem("schema", f"column {column!r} (columns.id) must be an integer id, got "
                                          f"{type(r['id']).__name__} {r['id']!r}")


def _serialise(row: dict) -> bytes:
    try:
        # datetimes as ISO 8601 (naive stays naive: the parser applies the source's timezone),
        # UUIDs natively; inet, numeric and the like as their text form.
        return orjson.dumps(row, default=str)
    except TypeError:  # an integer beyond 64 bits and the like: text rather than no record
        return orjson.dumps({k: v if isinstance(v, (str, bool, type(None))) else str(v) for k, v in row.items()})
