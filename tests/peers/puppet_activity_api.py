"""A strict stand-in for Puppet Enterprise's activity service API (`/activity-api/v1|v2/events`).

It follows the documented behaviour (docs/research/formats.md §5, tests/data/samples/puppet_enterprise/):
- token in `X-Authentication`, 401 with an RBAC-style error body when it is missing or unknown;
- v1 requires `service_id` (400 without); v2 treats it as optional (all services);
- `offset` (commits to skip), `limit` (default 1000), `order` (asc|desc, **default desc**, by commit time);
- v1 body: `commits[].object` + events with only `message`, top-level `offset`, `limit`, `total-rows`;
- v2 body: `commits[].objects` (a list), `service`, `ip_address`, events with `type`/`what`/`description`/
  `message`, top-level `pagination` {total, limit, offset} as **strings** (as pe_client's docs show) or ints;
- JSON timestamps with one-second precision, so many commits share one.
Unknown query parameters and malformed values are 400s, so a client that sends something the API
does not document fails here. Faults (5xx bursts, slow answers, malformed pages) and history changes
(pruning, restoring an older backup) are injected by the tests.
"""
from __future__ import annotations

import json
import ssl
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import trustme

V1_PARAMS = {"service_id", "subject_type", "subject_id", "object_type", "object_id", "offset", "order", "limit",
             "after_service_commit_time"}
V2_PARAMS = {"service_id", "offset", "order", "limit", "query"}
EPOCH = datetime(2024, 3, 1, 12, 0, 0, tzinfo=timezone.utc)


@dataclass
class Commit:
    service: str
    subject: dict
    objects: list[dict]
    events: list[dict]  # {type, what, description, message}
    time: datetime
    ip: str | None = "10.1.2.3"

    def v1(self) -> dict:
        obj = self.objects[0] if self.objects else {}
        return {"object": {k: obj[k] for k in ("id", "name") if k in obj},
                "subject": {k: self.subject[k] for k in ("id", "name") if k in self.subject},
                "timestamp": _stamp(self.time),
                "events": [{"message": e["message"]} for e in self.events]}

    def v2(self) -> dict:
        out = {"service": {"id": self.service}, "subject": dict(self.subject), "objects": [dict(o) for o in self.objects],
               "timestamp": _stamp(self.time), "events": [dict(e) for e in self.events]}
        if self.ip:
            out["ip_address"] = self.ip
        return out


def _stamp(t: datetime) -> str:
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Fault:
    status: int = 503
    body: bytes = b'{"kind":"puppetlabs.activity/unavailable","msg":"Service Unavailable"}'
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)  # e.g. Retry-After
    drip: float = 0.0  # seconds between body bytes (an answer that never seems to end)
    real: bool = False  # answer the real page (with the headers / drip above) instead of `body`


@dataclass
class RequestLog:
    path: str
    params: dict[str, str]
    status: int
    token: str | None = None
    at: float = field(default_factory=time.monotonic)


class PuppetActivityAPI:
    """Start with `with PuppetActivityAPI(tmp_path) as api:`; `api.url("v2")` is the events endpoint."""

    def __init__(self, workdir: Path, tls: bool = True, string_totals: bool = True, token: str = "good-token"):
        self.workdir = Path(workdir)
        self.tls = tls
        self.string_totals = string_totals
        self.tokens = {token}
        self.commits: list[Commit] = []  # in commit (submit) order, all services
        self.lock = threading.Lock()
        self.faults: list[Fault] = []
        self.service_faults: dict[str, Fault] = {}  # a service that fails on every request until cleared
        self.requests: list[RequestLog] = []
        self._clock = EPOCH
        self.ca_file = self.workdir / "pe-ca.pem"
        self._server: ThreadingHTTPServer | None = None
        self.max_limit: int | None = None  # a server-side cap on `limit` (pages shorter than asked)
        self.total_bias = 0  # a total that disagrees with the commits it pages (must not loop a client)
        # commits the total counts but no page lists: dropped by the server, or not yet visible to the
        # listing's query (the count and the page are separate statements); `unlist` / `relist`
        self.unlisted: list[Commit] = []

    # --- data ------------------------------------------------------------------------------------
    def add(self, service: str, messages: list[str], *, user: str = "admin", object_type: str = "users",
            object_name: str = "jean", same_second: bool = False, kinds: list[tuple[str, str, str]] | None = None,
            ip: str | None = "10.1.2.3") -> Commit:
        """Append one commit holding one event per message (optionally with v2 type/what/description)."""
        with self.lock:
            if not same_second:
                self._clock += timedelta(seconds=1)
            events = []
            for i, m in enumerate(messages):
                t, w, d = kinds[i] if kinds else ("edit", "user", "edit_user")
                events.append({"type": t, "what": w, "description": d, "message": m})
            c = Commit(service=service, subject={"id": f"id-{user}", "name": user, "type": "users"},
                       objects=[{"id": f"id-{object_name}", "name": object_name, "type": object_type}],
                       events=events, time=self._clock, ip=ip)
            self.commits.append(c)
            return c

    def add_copy(self, commit: Commit) -> None:
        """An identical commit in the same second (a real, distinct event that looks the same)."""
        with self.lock:
            self.commits.append(Commit(commit.service, dict(commit.subject), [dict(o) for o in commit.objects],
                                       [dict(e) for e in commit.events], commit.time, commit.ip))

    def prune_oldest(self, service: str, n: int) -> None:
        """What pruning the activity database does: the oldest commits go, every offset shifts down."""
        with self.lock:
            idx = [i for i, c in enumerate(self.commits) if c.service == service][:n]
            for i in reversed(idx):
                del self.commits[i]

    def drop_newest(self, service: str, n: int) -> None:
        """What restoring an older backup does: the newest commits are gone."""
        with self.lock:
            idx = [i for i, c in enumerate(self.commits) if c.service == service][-n:] if n else []
            for i in reversed(idx):
                del self.commits[i]

    def unlist(self, commits: list[Commit]) -> None:
        """Counted in the total, left out of every page (until `relist`)."""
        with self.lock:
            self.unlisted.extend(commits)

    def relist(self) -> None:
        with self.lock:
            self.unlisted.clear()

    def fail_next(self, n: int, status: int = 503, delay: float = 0.0, body: bytes | None = None,
                  headers: dict[str, str] | None = None, drip: float = 0.0, real: bool = False) -> None:
        with self.lock:
            for _ in range(n):
                self.faults.append(Fault(status, body if body is not None else Fault.body, delay, dict(headers or {}),
                                         drip, real))

    def fail_service(self, service: str, status: int | None = 500, headers: dict[str, str] | None = None) -> None:
        """Every request for this service fails (status None: it answers again)."""
        with self.lock:
            if status is None:
                self.service_faults.pop(service, None)
            else:
                self.service_faults[service] = Fault(status, headers=dict(headers or {}))

    def event_requests(self) -> list[RequestLog]:
        with self.lock:
            return [r for r in self.requests if r.path.endswith("/events")]

    # --- server ----------------------------------------------------------------------------------
    def url(self, version: str = "v2") -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        scheme = "https" if self.tls else "http"
        name = "localhost" if self.tls else host
        return f"{scheme}://{name}:{port}/activity-api/{version}/events"

    def __enter__(self) -> "PuppetActivityAPI":
        api = self
        context = None
        if self.tls:
            ca = trustme.CA()
            cert = ca.issue_cert("localhost", "127.0.0.1")
            ca.cert_pem.write_to_path(str(self.ca_file))
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            cert.configure_cert(context)

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def get_request(self):
                sock, addr = self.socket.accept()
                if context is not None:
                    # The handshake happens in the handler thread, so a stuck client blocks no one.
                    sock = context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
                return sock, addr

            def handle_error(self, request, client_address):
                # A client that rejects our certificate (the wrong-CA test) is expected: no traceback.
                if isinstance(sys.exc_info()[1], ssl.SSLError):
                    return
                super().handle_error(request, client_address)

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                fault = None
                try:
                    status, body, fault = api._handle(self.path, self.headers.get("X-Authentication"))
                except Exception as e:  # a bug in the peer must show, not hang the client
                    status, body = 500, json.dumps({"kind": "peer-bug", "msg": repr(e)}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for k, v in (fault.headers if fault else {}).items():
                    self.send_header(k, v)
                self.end_headers()
                if fault is not None and fault.drip:
                    try:
                        for i in range(len(body)):
                            self.wfile.write(body[i:i + 1])
                            self.wfile.flush()
                            time.sleep(fault.drip)
                    except OSError:  # the client gave up on us, as it should
                        self.close_connection = True
                    return
                self.wfile.write(body)

        self._server = Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def _handle(self, raw_path: str, token: str | None) -> tuple[int, bytes]:
        parts = urlsplit(raw_path)
        params_list = parse_qsl(parts.query, keep_blank_values=True)
        params = dict(params_list)
        with self.lock:
            fault = self.service_faults.get(params.get("service_id", ""))
            if fault is None:
                fault = self.faults.pop(0) if self.faults else None
        if fault is not None and not fault.real:
            if fault.delay:
                time.sleep(fault.delay)
            self._log(parts.path, params, fault.status, token)
            return fault.status, fault.body, fault
        status, body = self._answer(parts.path, params, params_list, token)
        self._log(parts.path, params, status, token)
        return status, json.dumps(body).encode(), fault

    def _log(self, path, params, status, token) -> None:
        with self.lock:
            self.requests.append(RequestLog(path, params, status, token))

    def _answer(self, path: str, params: dict, params_list: list, token: str | None) -> tuple[int, Any]:
        if path not in ("/activity-api/v1/events", "/activity-api/v2/events"):
            return 404, {"kind": "not-found", "msg": f"no route {path}"}
        if token not in self.tokens:
            return 401, {"kind": "puppetlabs.rbac/user-unauthenticated",
                         "msg": "Route requires authentication"}
        version = path.split("/")[2]
        allowed = V1_PARAMS if version == "v1" else V2_PARAMS
        if len(params) != len(params_list):
            return 400, {"kind": "malformed-request", "msg": "a parameter was given twice"}
        unknown = set(params) - allowed
        if unknown:
            return 400, {"kind": "malformed-request", "msg": f"unknown parameters {sorted(unknown)}"}
        service = params.get("service_id")
        if version == "v1" and not service:
            return 400, {"kind": "malformed-request", "msg": "service_id is required"}
        try:
            offset = int(params.get("offset", "0"))
            limit = int(params.get("limit", "1000"))
        except ValueError:
            return 400, {"kind": "malformed-request", "msg": "offset and limit must be integers"}
        order = params.get("order", "desc")
        if offset < 0 or limit < 0 or order not in ("asc", "desc"):
            return 400, {"kind": "malformed-request", "msg": "bad offset, limit or order"}
        with self.lock:
            rows = [c for c in self.commits if service is None or c.service == service]
            unlisted = list(self.unlisted)
        rows.sort(key=lambda c: c.time)  # stable: commits of the same second keep their submit order
        if order == "desc":
            rows.reverse()
        total = len(rows) + self.total_bias
        rows = [c for c in rows if not any(c is u for u in unlisted)]
        page = rows[offset: offset + min(limit, self.max_limit or limit)]
        if version == "v1":
            return 200, {"commits": [c.v1() for c in page], "offset": offset, "limit": limit, "total-rows": total}
        conv = str if self.string_totals else int
        return 200, {"commits": [c.v2() for c in page],
                     "pagination": {"total": conv(total), "limit": conv(limit), "offset": conv(offset)}}
