"""`shipper status`: where each source stands and how each output fares.

Saved positions come from the state dir's checkpoints.sqlite (opened read-only) while the daemon is
stopped; while it runs it holds that database locked (checkpoint_db._connect says why), so they come from
the snapshot of its rows it writes beside it every few seconds (checkpoint_db.write_snapshot), with the
snapshot's age, and the sources failing to read then (as /health lists them). When the config enables the
HTTP endpoint and the daemon answers, /status adds what only the running process knows (read positions, in
flight, last success, errors).

Each source says what its saved state means (Source.saved_positions: files and offsets; saved_notes: the
rest in plain lines); this module adds what the files hold now (size, lag, rotated or gone).
"""
from __future__ import annotations

import errno
import os
import sqlite3
import stat
import time
from typing import Any

import orjson

from shipper import registry
from shipper.checkpoint_db import DB_FILE, LOCK_FILE, SNAPSHOT, SNAPSHOT_EVERY, agent_named, database_held_by_no_agent
from shipper.config import Config
from shipper.config_base import file_kind
from shipper.plugin import SavedPosition
from shipper.secrets import redact_obj


class CheckpointsHeld(Exception):
    """The running agent holds the checkpoint database (it keeps it locked while it runs, see
    checkpoint_db._connect); `pid` is the holder's, from the state_dir's lock file ("unknown" if unreadable), in its
    own pid namespace (its snapshot's); `named` as this pid namespace sees it (checkpoint_db.agent_named)."""

    def __init__(self, pid: str, named: str | None = None):
        super().__init__(pid)
        self.pid = pid
        self.named = pid if named is None else named


def read_checkpoints(state_dir: str) -> dict[str, dict[str, dict[str, Any]]]:
    """{source: {key: {"value": ..., "updated": unix time}}}; {} when there is no store yet.
    CheckpointsHeld while an agent runs on this state_dir."""
    path = os.path.join(state_dir, "checkpoints.sqlite")
    if not os.path.exists(path):
        return {}
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1.0)
    try:
        rows = db.execute("SELECT source, key, value, updated FROM checkpoints").fetchall()
    except sqlite3.OperationalError as e:
        if "locked" not in str(e):
            raise
        if held := database_held_by_no_agent(state_dir):  # (no agent runs: named, never taken for one)
            raise sqlite3.OperationalError(held) from None
        try:
            with open(os.path.join(state_dir, LOCK_FILE), "rb") as f:
                pid = f.read(32).decode("ascii", "replace").strip() or "unknown"
        except OSError:
            pid = "unknown"
        raise CheckpointsHeld(pid, agent_named(state_dir, pid)) from None
    finally:
        db.close()
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for source, key, value, updated in rows:
        out.setdefault(source, {})[key] = {"value": orjson.loads(value), "updated": updated}
    return out


MAX_SNAPSHOT = 256 << 20  # bytes; a state_dir's snapshot is kilobytes, megabytes for 100,000 files


class Snapshot:
    """The running agent's snapshot of its saved rows: `rows` as read_checkpoints gives them and
    `written` (unix time), or `problem` (why there is none to show)."""

    def __init__(self, state_dir: str, holder: str):
        self.rows: dict[str, dict[str, dict[str, Any]]] = {}
        self.failing: dict[str, dict[str, Any]] = {}  # sources failing to read, as the agent last said
        self.written: float | None = None
        self.problem: str | None = None
        # When the database (or its WAL) was last written: a snapshot is late only if the database changed well
        # after it; an idle agent writes neither (it rewrites the snapshot only while positions change).
        self.db_written = max(_mtime(os.path.join(state_dir, DB_FILE + tail)) for tail in ("", "-wal"))
        path = os.path.join(state_dir, SNAPSHOT)
        try:
            doc = orjson.loads(_read_regular(path, MAX_SNAPSHOT + 1))
            if not isinstance(doc, dict) or not isinstance(doc.get("rows"), list):
                raise ValueError("not a snapshot")
            if holder != "unknown" and str(doc.get("pid")) != holder:
                self.problem = f"its snapshot is from another run (pid {doc.get('pid')}): not shown"
                return
            for source, key, value, updated in doc["rows"]:
                self.rows.setdefault(str(source), {})[str(key)] = {"value": value, "updated": updated}
            failing = doc.get("failing")
            if isinstance(failing, dict):
                self.failing = {str(k): v for k, v in failing.items() if isinstance(v, dict)}
            self.written = float(doc["written"])
        except FileNotFoundError:
            self.problem = "it has written no snapshot of them yet"
        except (OSError, ValueError, TypeError, KeyError) as e:
            self.rows, self.problem = {}, f"its snapshot cannot be read ({e})"


def _mtime(path: str) -> float:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return 0.0


def _read_regular(path: str, limit: int) -> bytes:
    """Up to `limit` bytes of `path` if it is a regular file, else ValueError saying what it is.
    Opened without blocking and without following a link: the writer only ever renames a regular file
    there, and a FIFO put in its place would hold `status` for ever in open() waiting for a writer."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise ValueError(f"{path} is a symbolic link, not a regular file: refused") from None
        raise
    with open(fd, "rb") as f:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = file_kind(mode)
            raise ValueError(f"{path} is {kind}, not a regular file: refused")
        return f.read(limit)


def file_positions(positions: list[SavedPosition]) -> list[dict[str, Any]]:
    """Saved file positions (Source.saved_positions), with the files' size and lag now."""
    files = []
    for pos in positions:
        doc: dict[str, Any] = {"key": pos.key, "path": pos.path, "offset": pos.offset,
                               "size": None, "lag": None, "note": ""}
        try:
            st = os.stat(pos.path)
        except OSError:
            doc["note"] = "gone (rotated away or deleted)"
        else:
            doc["size"] = st.st_size
            doc["lag"] = pos.lag(st)
            if doc["lag"] is None:
                doc["note"] = ("path now holds another file (rotated)" if pos.ino is not None and pos.ino != st.st_ino
                               else "truncated since")
        files.append(doc)
    return sorted(files, key=lambda d: d["path"])


MAX_LIVE_STATUS = 16 << 20  # bytes of /status answer; a real one is kilobytes


def fetch_live(listen: str, timeout: float = 2.0) -> dict[str, Any] | None:
    # (Imported here: `run` and `check` read checkpoints through this module, and need no HTTP client.)
    import http.client
    import urllib.request

    from shipper.http_endpoint import parse_listen

    host, port = parse_listen(listen)
    host = "127.0.0.1" if host in ("0.0.0.0", "") else ("::1" if host == "::" else host)
    url = f"http://[{host}]:{port}/status" if ":" in host else f"http://{host}:{port}/status"
    # Bounded in size and in time: whatever holds the port (a wedged daemon, another local user) may
    # answer without end or one byte at a time.
    deadline = time.monotonic() + 5 * timeout
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            body = bytearray()
            while chunk := resp.read1(65536):
                body += chunk
                if len(body) > MAX_LIVE_STATUS or time.monotonic() > deadline:
                    return None
            return orjson.loads(body)
    except (OSError, ValueError, http.client.HTTPException):
        return None


def collect(config: Config) -> dict[str, Any]:
    held_by, snapshot = None, None
    try:
        stored = read_checkpoints(config.state_dir)
    except CheckpointsHeld as e:  # the running agent's snapshot stands in (and its /status, when it answers)
        held_by, snapshot = e.named, Snapshot(config.state_dir, e.pid)
        stored = snapshot.rows
    live = fetch_live(config.settings.http.listen) if config.settings.http else None
    sources = []
    for s in config.sources:
        rows = stored.get(s.name, {})
        state = {k: v["value"] for k, v in rows.items()}
        lv = (live or {}).get("sources", {}).get(s.name, {})
        source_cls = registry.load("source", s.type)
        positions = source_cls.saved_positions(state)
        position_keys = {p.key for p in positions}
        stored_files = file_positions(positions)
        # A source a reload stopped has read its files to where it stopped, and its batches are still being
        # sent: the read positions said "lag 0" for bytes not delivered. The saved ones count them.
        files = stored_files if lv.get("reload_wait") else _live_files(lv.get("status") or {}) or stored_files
        sources.append({
            "name": s.name, "type": s.type, "parser": s.parser, "tag": s.effective_tag,
            "follows": getattr(s, "paths", None), "files": files, "files_from": "daemon" if files is not stored_files else "checkpoints",
            "other_keys": sorted(k for k in state if k not in position_keys),
            "saved_notes": source_cls.saved_notes({k: v for k, v in state.items() if k not in position_keys}),
            "last_ack": lv.get("last_ack") or max((v["updated"] for v in rows.values()), default=None),
            "in_flight_batches": lv.get("in_flight_batches"), "running": lv.get("running"), "error": lv.get("error"),
            "parse_workers": lv.get("parse_workers"),
            # without the endpoint's answer, the failure the running agent's snapshot names (as /health would)
            "last_error": lv.get("last_error") if live is not None else (snapshot.failing.get(s.name) if snapshot else None),
            "reload_wait": lv.get("reload_wait"),
            "held_files": (lv.get("status") or {}).get("held_files"), "held_bytes": (lv.get("status") or {}).get("held_bytes"),
        })
    outputs = []
    for o in config.outputs:
        lv = (live or {}).get("outputs", {}).get(o.name, {})
        outputs.append({"name": o.name, "type": o.type, "match": o.match,
                        "last_success": lv.get("last_success"), "last_error": lv.get("last_error"),
                        "errors": lv.get("errors"), "healthy": lv.get("healthy"),
                        "pending_batches": lv.get("pending_batches"), "reason": lv.get("reason")})
    daemon = {"endpoint": config.settings.http.listen if config.settings.http else None,
              "reachable": live is not None, "pid": (live or {}).get("pid"), "holds_checkpoints": held_by}
    saved = ({"from": "database"} if snapshot is None else
             {"from": "snapshot", "written": snapshot.written, "db_written": snapshot.db_written}
             if snapshot.written is not None else
             {"from": None, "why": snapshot.problem})
    return redact_obj({"config": config.path, "state_dir": config.state_dir, "daemon": daemon, "saved": saved,
                       "sources": sources, "outputs": outputs})  # errors may quote a dsn or URL


def _live_files(live_status: dict[str, Any]) -> list[dict[str, Any]]:
    """The running source's own view (Source.status()["files"]): read position, not yet acked."""
    out = []
    for f in live_status.get("files") or []:
        if isinstance(f, dict) and "path" in f:
            pos = f.get("position", f.get("offset"))
            out.append({"key": f.get("file_id") or f["path"], "path": f["path"], "offset": pos,
                        "size": f.get("size"), "lag": f.get("lag"),
                        "note": f.get("note") or ("deleted, still open" if f.get("deleted") else "")})
    return out


def _ago(ts: float | None, now: float) -> str:
    if ts is None:
        return "never"
    secs = max(0.0, now - ts)
    if secs < 120:
        return f"{secs:.0f}s ago"
    if secs < 7200:
        return f"{secs / 60:.0f}m ago"
    return f"{secs / 3600:.1f}h ago"


def _saved_from(saved: dict[str, Any], now: float) -> str:
    """Where the saved positions shown come from, and how old they are."""
    if saved.get("from") == "database":
        return "saved positions: from the checkpoint database"
    if saved.get("from") == "snapshot":
        age = max(0.0, now - saved["written"])
        # late: the database changed after it and no snapshot followed (one follows within SNAPSHOT_EVERY)
        changed_after = (saved.get("db_written") or now) - saved["written"]
        late = (" (older than it should be: is the state_dir's filesystem frozen, or its disk hung?)"
                if min(age, changed_after) > 3 * SNAPSHOT_EVERY + 10 else "")
        return (f"saved positions: from the running agent's snapshot, written {_ago(saved['written'], now)}{late} "
                f"(every {SNAPSHOT_EVERY:.0f}s while they change; the database is locked while the agent runs)")
    return f"saved positions: cannot be shown while the agent runs: {saved.get('why')}"


def render(doc: dict[str, Any], now: float | None = None) -> list[str]:
    now = time.time() if now is None else now
    d = doc["daemon"]
    # One wording for a daemon that cannot be asked, whatever the reason.
    if d["reachable"]:
        daemon = f"daemon: running (pid {d['pid']}, http {d['endpoint']})"
    elif d["endpoint"] is None:
        daemon = "daemon: not reachable (no http endpoint in the config); positions from the state dir"
    else:
        daemon = f"daemon: not reachable at {d['endpoint']} (stopped?); positions from the state dir"
    held = d.get("holds_checkpoints")
    if held and not d["reachable"]:
        daemon = (f"daemon: running (pid {held}) and holding the checkpoint database, "
                  + ("no http endpoint in the config" if d["endpoint"] is None else f"not reachable at {d['endpoint']}"))
    lines = [f"config: {doc['config']}", f"state: {doc['state_dir']}", daemon]
    if doc.get("saved"):
        lines.append(_saved_from(doc["saved"], now))
    lines.append("")
    for s in doc["sources"]:
        head = f"source {s['name']} ({s['type']}, parser {s['parser']}, tag {s['tag']})"
        if s["running"] is False:
            head += " NOT RUNNING"
        lines.append(head)
        if s["follows"]:
            lines.append(f"  follows: {', '.join(s['follows'])}")
        lines.append(f"  last ack: {_ago(s['last_ack'], now)}"
                     + (f", in flight: {s['in_flight_batches']} batches" if s["in_flight_batches"] is not None else "")
                     + (f", parsing in {s['parse_workers']} worker processes" if s.get("parse_workers") else ""))
        if s.get("reload_wait"):
            lines.append(f"  restart after a reload pending: {s['reload_wait']} batches its outputs are still sending "
                         "(positions below: the saved ones, what was delivered)")
        if s["error"]:
            lines.append(f"  error: {s['error']}")
        le = s.get("last_error")
        if le:
            since = (("failing" if le.get("since") is None else f"failing since {_ago(le.get('since'), now)}")
                     if le.get("failing") else f"last error {_ago(le.get('at'), now)}")
            where = f" [{le['scope']}]" if le.get("scope") else ""
            lines.append(f"  {since}{where}: {le.get('kind')}: {le.get('message')}")
        if s.get("held_files"):
            lines.append(f"  holding {s['held_files']} rotated files open until read, "
                         f"{s.get('held_bytes') or 0} bytes of them already deleted")
        if not s["files"] and not s["other_keys"]:
            lines.append("  no saved positions to show" if held and not (doc.get("saved") or {}).get("from")
                         else "  no checkpoint yet")
        for f in s["files"]:
            size = "?" if f["size"] is None else str(f["size"])
            lag = f"lag {f['lag']}" if f["lag"] is not None else f["note"]
            lines.append(f"  {f['path']}: position {f['offset']} of {size} bytes, {lag}")
        lines += [f"  {note}" for note in s.get("saved_notes") or []]
    for o in doc["outputs"]:
        lines.append(f"output {o['name']} ({o['type']}, match {o['match']!r})")
        if not d["reachable"]:
            lines.append("  last success: unknown (daemon not reachable)")
            continue
        lines.append(f"  last success: {_ago(o['last_success'], now)}, errors: {o['errors'] or 0}, "
                     f"queued: {o['pending_batches'] or 0} batches" + ("" if o["healthy"] is not False else " UNHEALTHY"))
        if o["reason"]:
            lines.append(f"  {o['reason']}")
        if o["last_error"]:
            lines.append(f"  last error: {o['last_error']}")
    return lines
