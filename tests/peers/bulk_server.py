"""A strict Elasticsearch `_bulk` server for tests, over real HTTP on loopback.

Follows the Bulk API reference: NDJSON body (each line JSON, ending in a newline), action lines with
exactly one of create/index/update/delete and only known metadata, a source line after
create/index/update; per-item statuses in `items` and `errors: true` when any failed. Documents
are stored by (index, _id); `create` of an existing `_id` answers 409
(version_conflict_engine_exception). Data streams (an index template with `data_stream` matching
the name, as the setup command installs, or any `logs-*-*` name like Elasticsearch's built-in
template) accept only `create` and need `@timestamp`.

Injection for tests: `item_status[_id] = [429, 429]` answers those statuses for the next attempts
of that id (then stores it); `transient_when(source)` answers its status once per document; `reject_ids` /
`reject_when(source)` always answer 400 (a mapping error);
`fail_requests(n, 503, retry_after)` fails whole requests (with a Retry-After header if given); `require_auth` checks the Authorization header;
`answer_with[path] = (status, body, content_type)` answers that (JSON, or text such as a proxy's
HTML page) to every request for the path; `answer_delay` (seconds) answers each `_bulk` that much later, its
documents stored already (a busy node, healthy); `max_body` answers 413 to larger request bodies (as sent, so gzipped
if compressed), as a proxy's body limit does.

Flavours (`flavour=`): `es7`, `es8`, `es9` and `opensearch`, each refusing what that server refuses
(docs/research/real-servers.md): the versioned media types `application/vnd.elasticsearch+json;
compatible-with=N` are accepted only for the N the version knows (7.17: 7; 8.x: 7 or 8; 9.x: 8 or 9),
anything else is 400 `media_type_header_exception`; OpenSearch answers 406 to any
`vnd.elasticsearch` type and sends no `X-Elastic-Product`; `GET /` answers each one's version body;
component templates may use only the mapping types that version knows (OpenSearch has no
`flattened`, `flat_object` since 2.7, `wildcard` since 2.15, `match_only_text` since 2.12, no
`constant_keyword` in this peer); only Elasticsearch has the built-in `logs-*-*` data stream template.
"""
from __future__ import annotations

import gzip
import json
import re
import socket
import threading
import time
from fnmatch import fnmatchcase
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ACTIONS = {"create", "index", "update", "delete"}
META_KEYS = {"_index", "_id", "routing", "pipeline", "require_alias", "require_data_stream", "if_seq_no",
             "if_primary_term", "version", "version_type", "dynamic_templates", "list_executed_pipelines",
             "retry_on_conflict", "_source"}
NDJSON_TYPES = ("application/x-ndjson", "application/vnd.elasticsearch+x-ndjson")
JSON_TYPES = ("application/json", "application/vnd.elasticsearch+json")
INDEX_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.+\-]*$")
VND_RE = re.compile(r"application/vnd\.elasticsearch\+(json|x-ndjson)\s*(?:;\s*compatible-with\s*=\s*(\d+))?")

# Mapping types every flavour knows (the ones shipper's templates could use).
COMMON_TYPES = {"keyword", "text", "long", "integer", "short", "byte", "double", "float", "half_float", "scaled_float",
                "date", "date_nanos", "boolean", "object", "nested", "ip", "geo_point", "binary"}
ES_TYPES = COMMON_TYPES | {"flattened", "wildcard", "constant_keyword", "match_only_text", "unsigned_long"}


def _opensearch_types(v: tuple) -> set:
    extra = {"flat_object"} if v >= (2, 7) else set()
    extra |= {"wildcard"} if v >= (2, 15) else set()
    extra |= {"match_only_text"} if v >= (2, 12) else set()
    return COMMON_TYPES | extra


def _es_root(number: str, lucene: str, wire: str, index_compat: str) -> dict:
    return {"name": "node-1", "cluster_name": "docker-cluster", "cluster_uuid": "c0Zr4mT1Q3mXyJ3b0lTq8w",
            "version": {"number": number, "build_flavor": "default", "build_type": "docker",
                        "build_hash": "0" * 40, "build_date": "2025-01-01T00:00:00.000Z", "build_snapshot": False,
                        "lucene_version": lucene, "minimum_wire_compatibility_version": wire,
                        "minimum_index_compatibility_version": index_compat},
            "tagline": "You Know, for Search"}


def _opensearch_root(number: str) -> dict:
    major = int(number.split(".")[0])
    return {"name": "opensearch-node1", "cluster_name": "opensearch-cluster", "cluster_uuid": "b4mPq2xGRZ2Y1Vd7i3bH9A",
            "version": {"distribution": "opensearch", "number": number, "build_type": "tar",
                        "build_hash": "0" * 40, "build_date": "2025-01-01T00:00:00.000000Z", "build_snapshot": False,
                        "lucene_version": {1: "8.10.1", 2: "9.12.1", 3: "10.1.0"}.get(major, "10.1.0"),
                        "minimum_wire_compatibility_version": {1: "6.8.0", 2: "7.10.0", 3: "2.19.0"}.get(major, "2.19.0"),
                        "minimum_index_compatibility_version": {1: "6.0.0", 2: "7.0.0", 3: "2.0.0"}.get(major, "2.0.0")},
            "tagline": "The OpenSearch Project: https://opensearch.org/"}


class Flavour:
    """What one server product and version accepts and how it answers."""

    def __init__(self, name: str, version: str | None = None):
        defaults = {"es7": "7.17.25", "es8": "8.15.3", "es9": "9.1.5", "opensearch": "2.19.1"}
        if name not in defaults:
            raise ValueError(f"unknown flavour {name!r}")
        self.name = name
        self.number = version or defaults[name]
        v = tuple(int(x) for x in self.number.split(".")[:3])
        self.opensearch = name == "opensearch"
        if self.opensearch:
            self.compatible: set[int] = set()
            self.types = _opensearch_types(v)
            self.root = _opensearch_root(self.number)
        else:
            major = v[0]
            self.compatible = {7} if major == 7 else {major - 1, major}
            self.types = ES_TYPES
            self.root = {7: lambda: _es_root(self.number, "8.11.3", "6.8.0", "6.0.0-beta1"),
                         8: lambda: _es_root(self.number, "9.11.1", "7.17.0", "7.0.0"),
                         9: lambda: _es_root(self.number, "10.2.2", "8.19.0", "8.0.0")}[major]()

    def refuse_media_type(self, headers) -> "BulkError | None":
        """The refusal a real server answers for these Accept/Content-Type headers, or None."""
        for h in ("Content-Type", "Accept"):
            value = headers.get(h) or ""
            m = VND_RE.search(value)
            if not m:
                continue
            if self.opensearch:
                return BulkError(406, "", f"Content-Type header [{value}] is not supported", bare=True)
            version = int(m.group(2)) if m.group(2) else None
            if version not in self.compatible:
                allowed = " or ".join(str(x) for x in sorted(self.compatible, reverse=True))
                return BulkError(400, "media_type_header_exception", "Invalid media-type value on headers [Accept, Content-Type]",
                                 caused_by={"type": "status_exception",
                                            "reason": f"{h} version must be either version {allowed}, but found {version}. {h}={value}"})
        return None

    def unknown_type(self, mappings: Any, path: str = "") -> str | None:
        """The first field whose mapping type this version does not know: 'field [x] type [y]'."""
        props = mappings.get("properties", {}) if isinstance(mappings, dict) else {}
        for name, spec in props.items():
            full = f"{path}{name}"
            if not isinstance(spec, dict):
                continue
            kind = spec.get("type", "object")
            if kind not in self.types:
                return f"No handler for type [{kind}] declared on field [{full}]"
            for sub, sub_spec in (spec.get("fields") or {}).items():
                if sub_spec.get("type") not in self.types:
                    return f"No handler for type [{sub_spec.get('type')}] declared on field [{sub}]"
            found = self.unknown_type(spec, full + ".")
            if found:
                return found
        return None


# The ingest processors every flavour has (Elasticsearch 7.17-9, OpenSearch 1-3 bundle ingest-geoip and
# ingest-user-agent) that shipper's pipeline uses, and a few common others; any other name is refused.
INGEST_PROCESSORS = {"set", "append", "rename", "remove", "geoip", "user_agent", "convert", "date", "lowercase"}


class BulkError(Exception):
    def __init__(self, status: int, etype: str, reason: str, caused_by: dict | None = None, bare: bool = False):
        super().__init__(reason)
        self.status, self.etype, self.reason = status, etype, reason
        self.caused_by = caused_by
        self.bare = bare  # answered as {"error": "<reason>", "status": N}, as both servers do for media types

    def body(self) -> dict:
        if self.bare:
            return {"error": self.reason, "status": self.status}
        err: dict = {"root_cause": [{"type": self.etype, "reason": self.reason}], "type": self.etype, "reason": self.reason}
        if self.caused_by:
            err["caused_by"] = self.caused_by
        return {"error": err, "status": self.status}


class BulkServer:
    def __init__(self, host: str = "127.0.0.1", port: int = 0, ssl_context=None, flavour: str = "es9",
                 version: str | None = None):
        self.host, self.port = host, port
        self.flavour = Flavour(flavour, version)
        self.max_body: int | None = None  # larger request bodies answered 413, as by a proxy's body limit
        self.answer_delay = 0.0  # seconds a `_bulk` answer waits after its documents were stored (a busy node)
        self.answer_with: dict[str, tuple[int, Any, str]] = {}  # path → canned (status, body, content type)
        self.ssl_context = ssl_context  # an ssl.SSLContext: serve HTTPS
        self.docs: dict[tuple[str, str], dict] = {}  # (index, _id) → source
        self.item_status: dict[str, list[int]] = {}
        self.reject_ids: set[str] = set()
        self.reject_when = None  # callable(source) → True to answer 400 (a mapping error) for that document
        self.transient_when = None  # callable(source) → 429/503 for the first attempt of that document
        self._transient_seen: set[str] = set()
        self.transient_every_attempt = False  # transient_when asked at every attempt (a node busy for a while)
        self.require_auth: str | None = None  # exact Authorization header value
        self.templates: dict[str, dict] = {}  # index templates
        self.component_templates: dict[str, dict] = {}
        self.pipelines: dict[str, dict] = {}  # PUT /_ingest/pipeline/<id>
        self.requests = 0
        self.request_times: list[float] = []  # time.monotonic() of each request's arrival
        self.bulk_requests = 0
        self.gzip_requests = 0
        self.item_attempts: dict[str, int] = {}
        self.conflicts = 0
        self.media_type_refusals = 0
        self.errors: list[str] = []  # protocol violations seen (a test asserts this stays empty)
        self._fail: list[int] = []  # statuses for the next whole requests
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._conns: set = set()

    # control
    def start(self) -> "BulkServer":
        peer = self

        class Handler(_Handler):
            pass

        Handler.peer = peer
        srv = ThreadingHTTPServer((self.host, self.port), Handler)
        srv.daemon_threads = True
        if self.ssl_context is not None:
            srv.socket = self.ssl_context.wrap_socket(srv.socket, server_side=True)
        self.port = srv.server_address[1]
        self._server = srv
        threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop listening and cut open keep-alive connections (a stopped or crashed node)."""
        srv, self._server = self._server, None
        if srv is not None:
            srv.shutdown()
            srv.server_close()
        with self._lock:
            conns, self._conns = list(self._conns), set()
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def restart(self, down_for: float = 0.0) -> None:
        self.stop()
        time.sleep(down_for)
        self.start()

    def fail_requests(self, n: int, status: int = 503, retry_after: str | None = None) -> None:
        """The next n requests answered `status` (with a `Retry-After: retry_after` header if given,
        as Elastic Cloud's and OpenSearch Service's proxies do when they throttle)."""
        with self._lock:
            self._fail.extend([(status, retry_after)] * n)

    def stop_failing(self) -> None:
        """The requests fail_requests asked to fail that are still to come are answered as usual."""
        with self._lock:
            self._fail.clear()

    @property
    def url(self) -> str:
        return f"{'https' if self.ssl_context else 'http'}://{self.host}:{self.port}"

    def ids(self, index_prefix: str = "") -> list[str]:
        with self._lock:
            return [i for (idx, i) in self.docs if idx.startswith(index_prefix)]

    def wait_for_docs(self, n: int, timeout: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.docs) >= n:
                return True
            time.sleep(0.02)
        return len(self.docs) >= n

    # the API
    def is_data_stream(self, index: str) -> bool:
        for t in self.templates.values():
            if "data_stream" in t and any(fnmatchcase(index, p) for p in t.get("index_patterns", [])):
                return True
        # Elasticsearch's built-in `logs` template (priority 100); OpenSearch has none.
        return not self.flavour.opensearch and fnmatchcase(index, "logs-*-*")

    def bulk(self, body: bytes, default_index: str | None) -> dict:
        if not body.endswith(b"\n"):
            raise BulkError(400, "illegal_argument_exception", "The bulk request must be terminated by a newline [\\n]")
        lines = body.split(b"\n")[:-1]
        items: list[dict] = []
        i = 0
        with self._lock:
            self.bulk_requests += 1
            while i < len(lines):
                try:
                    action = json.loads(lines[i])
                except ValueError as e:
                    raise BulkError(400, "x_content_parse_exception", f"line {i + 1}: not JSON: {e}")
                if not isinstance(action, dict) or len(action) != 1:
                    raise BulkError(400, "illegal_argument_exception", f"line {i + 1}: malformed action/metadata line")
                op, meta = next(iter(action.items()))
                if op not in ACTIONS or not isinstance(meta, dict):
                    raise BulkError(400, "illegal_argument_exception", f"line {i + 1}: unknown action [{op}]")
                unknown = set(meta) - META_KEYS
                if unknown:
                    raise BulkError(400, "illegal_argument_exception", f"line {i + 1}: unknown key {sorted(unknown)} in action")
                source = None
                if op != "delete":
                    if i + 1 >= len(lines):
                        raise BulkError(400, "illegal_argument_exception", f"line {i + 1}: action without a source line")
                    try:
                        source = json.loads(lines[i + 1])
                    except ValueError as e:
                        raise BulkError(400, "x_content_parse_exception", f"line {i + 2}: not JSON: {e}")
                    if not isinstance(source, dict):
                        raise BulkError(400, "x_content_parse_exception", f"line {i + 2}: source must be an object")
                    i += 2
                else:
                    i += 1
                items.append({op: self._item(op, meta, source, default_index)})
        return {"took": 1, "errors": any(v.get("status", 200) >= 300 for it in items for v in it.values()), "items": items}

    def _item(self, op: str, meta: dict, source: dict | None, default_index: str | None) -> dict:
        index = meta.get("_index", default_index)
        _id = meta.get("_id")
        if not index or not INDEX_NAME_RE.match(index):
            self.errors.append(f"bad index name {index!r}")
            return _err(index, _id, 400, "invalid_index_name_exception", f"Invalid index name [{index}]")
        if _id is not None:
            self.item_attempts[_id] = self.item_attempts.get(_id, 0) + 1
        if self.is_data_stream(index):
            if op != "create":
                self.errors.append(f"{op} into data stream {index}")
                return _err(index, _id, 400, "illegal_argument_exception",
                            "only write ops with an op_type of create are allowed in data streams")
            if source is not None and "@timestamp" not in source:
                return _err(index, _id, 400, "document_parsing_exception", "data stream timestamp field [@timestamp] is missing")
        if _id in self.reject_ids or (self.reject_when is not None and source is not None and self.reject_when(source)):
            return _err(index, _id, 400, "document_parsing_exception", "failed to parse field [x] of type [long]")
        if self.transient_when is not None and source is not None and (self.transient_every_attempt
                                                                       or _id not in self._transient_seen):
            status = self.transient_when(source)
            if status:
                self._transient_seen.add(_id)
                return _err(index, _id, status, "es_rejected_execution_exception", "injected")
        queued = self.item_status.get(_id or "")
        if queued:
            status = queued.pop(0)
            etype = {429: "es_rejected_execution_exception", 403: "security_exception",
                     404: "index_not_found_exception"}.get(status, "unavailable")
            return _err(index, _id, status, etype, "injected")
        if op == "create":
            if _id is None:
                _id = f"auto{len(self.docs)}"
            if (index, _id) in self.docs:
                self.conflicts += 1
                return _err(index, _id, 409, "version_conflict_engine_exception",
                            f"[{_id}]: version conflict, document already exists (current version [1])")
            self.docs[(index, _id)] = source
            return {"_index": index, "_id": _id, "_version": 1, "result": "created", "status": 201}
        if op == "index":
            self.docs[(index, _id)] = source
            return {"_index": index, "_id": _id, "result": "created", "status": 201}
        return _err(index, _id, 400, "illegal_argument_exception", f"{op} not supported by this peer")


    def mget(self, body: Any, default_index: str | None) -> dict:
        """Multi get (`docs`: `_index`, `_id`, optional `_source` true/false or a list of fields; the
        index may come from the path). A missing index or id is 400 for the whole request, as on the
        servers; a document not there is `found: false`."""
        docs = body.get("docs") if isinstance(body, dict) else None
        if not isinstance(docs, list) or not docs:
            raise BulkError(400, "action_request_validation_exception", "Validation Failed: 1: no documents to get;")
        out = []
        with self._lock:
            for d in docs:
                index = d.get("_index", default_index) if isinstance(d, dict) else None
                _id = d.get("_id") if isinstance(d, dict) else None
                if not index:
                    raise BulkError(400, "action_request_validation_exception", "Validation Failed: 1: index is missing;")
                if not isinstance(_id, str):
                    raise BulkError(400, "action_request_validation_exception", "Validation Failed: 1: id is missing;")
                source = self.docs.get((index, _id))
                if source is None:
                    out.append({"_index": index, "_id": _id, "found": False})
                    continue
                want = d.get("_source", True)
                if isinstance(want, list):  # the fields asked, in their nesting (as the servers answer)
                    kept: dict[str, Any] = {}
                    for k in want:
                        value = _get_path(source, k)
                        if value is not None:
                            *parents, leaf = k.split(".")
                            node = kept
                            for p in parents:
                                node = node.setdefault(p, {})
                            node[leaf] = value
                    source = kept
                got: dict[str, Any] = {"_index": index, "_id": _id, "_version": 1, "found": True}
                if want is not False:
                    got["_source"] = source
                out.append(got)
        return {"docs": out}


def _get_path(doc: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(doc, dict):
            return None
        doc = doc.get(part)
    return doc


def _err(index, _id, status, etype, reason) -> dict:
    return {"_index": index, "_id": _id, "status": status, "error": {"type": etype, "reason": reason}}


class _Handler(BaseHTTPRequestHandler):
    peer: BulkServer
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # quiet
        pass

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes: without this, Nagle + delayed ACK add 40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.peer._lock:
            self.peer._conns.add(self.connection)

    def finish(self) -> None:
        with self.peer._lock:
            self.peer._conns.discard(self.connection)
        try:
            super().finish()
        except OSError:
            pass

    def _send(self, status: int, body: Any, ctype: str = "application/json; charset=UTF-8",
              headers: dict[str, str] | None = None) -> None:
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if not self.peer.flavour.opensearch:
            self.send_header("X-Elastic-Product", "Elasticsearch")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> bytes:
        n = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(n) if n else b""
        if self.peer.max_body is not None and n > self.peer.max_body:
            raise BulkError(413, "", "Request Entity Too Large", bare=True)
        if self.headers.get("Content-Encoding") == "gzip":
            self.peer.gzip_requests += 1
            data = gzip.decompress(data)
        return data

    def _handle(self, method: str) -> None:
        peer = self.peer
        peer.requests += 1
        peer.request_times.append(time.monotonic())
        try:
            body = self._body()
        except BulkError as e:
            self._send(e.status, e.body())
            return
        except Exception as e:
            self._send(400, {"error": {"type": "parse_exception", "reason": str(e)}, "status": 400})
            return
        refusal = peer.flavour.refuse_media_type(self.headers)
        if refusal is not None:
            with peer._lock:
                peer.media_type_refusals += 1
            self._send(refusal.status, refusal.body())
            return
        if peer.require_auth and self.headers.get("Authorization") != peer.require_auth:
            self._send(401, {"error": {"type": "security_exception", "reason": "missing authentication credentials"}, "status": 401})
            return
        canned = peer.answer_with.get(self.path.split("?", 1)[0])
        if canned is not None:
            status, answer, ctype = canned
            self._send(status, answer, ctype)
            return
        with peer._lock:
            fail = peer._fail.pop(0) if peer._fail else None
        if fail:
            status, retry_after = fail
            etype = "es_rejected_execution_exception" if status == 429 else "unavailable_shards_exception"
            self._send(status, {"error": {"type": etype, "reason": "injected"}, "status": status},
                       headers={"Retry-After": retry_after} if retry_after is not None else None)
            return
        path = self.path.split("?", 1)[0]
        parts = [p for p in path.split("/") if p]
        try:
            if method == "GET" and not parts:
                self._send(200, peer.flavour.root)
            elif method in ("POST", "PUT") and parts and parts[-1] == "_bulk" and len(parts) <= 2:
                ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip()
                if ctype not in NDJSON_TYPES:
                    # Stricter than the servers (they take application/json too): shipper must say NDJSON.
                    peer.errors.append(f"bulk with Content-Type {ctype!r}")
                    raise BulkError(400, "illegal_argument_exception", f"bulk needs NDJSON, got {ctype!r}")
                answer = peer.bulk(body, parts[0] if len(parts) == 2 else None)
                time.sleep(peer.answer_delay)  # (stored already, as a busy node's answer comes late)
                self._send(200, answer)
            elif method in ("GET", "POST") and parts and parts[-1] == "_mget" and len(parts) <= 2:
                ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip()
                if ctype not in JSON_TYPES:
                    raise BulkError(400, "illegal_argument_exception", f"needs JSON, got {ctype!r}")
                self._send(200, peer.mget(json.loads(body), parts[0] if len(parts) == 2 else None))
            elif method == "PUT" and len(parts) == 2 and parts[0] in ("_index_template", "_component_template"):
                ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip()
                if ctype not in JSON_TYPES:
                    raise BulkError(400, "illegal_argument_exception", f"needs JSON, got {ctype!r}")
                doc = json.loads(body)
                store = peer.templates if parts[0] == "_index_template" else peer.component_templates
                if parts[0] == "_index_template":
                    missing = [c for c in doc.get("composed_of", []) if c not in peer.component_templates]
                    if missing:
                        raise BulkError(404, "index_template_missing_exception", f"component templates {missing} missing")
                    if not doc.get("index_patterns"):
                        raise BulkError(400, "action_request_validation_exception", "index patterns are missing")
                elif "template" not in doc:
                    raise BulkError(400, "x_content_parse_exception", "[template] is required")
                else:
                    unknown = peer.flavour.unknown_type(doc["template"].get("mappings") or {})
                    if unknown:
                        raise BulkError(400, "mapper_parsing_exception", unknown)
                store[parts[1]] = doc
                self._send(200, {"acknowledged": True})
            elif method == "PUT" and len(parts) == 3 and parts[:2] == ["_ingest", "pipeline"]:
                doc = json.loads(body)
                procs = doc.get("processors")
                if not isinstance(procs, list):
                    raise BulkError(400, "parse_exception", "[processors] required property is missing")
                for proc in procs + list(doc.get("on_failure") or []):
                    (kind,) = proc  # one processor per object, as the servers require
                    if kind not in INGEST_PROCESSORS:
                        raise BulkError(400, "parse_exception", f"No processor type exists with name [{kind}]")
                    if "field" not in proc[kind]:
                        raise BulkError(400, "parse_exception", "[field] required property is missing")
                peer.pipelines[parts[2]] = doc
                self._send(200, {"acknowledged": True})
            elif method == "GET" and len(parts) == 2 and parts[0] in ("_index_template", "_component_template"):
                store = peer.templates if parts[0] == "_index_template" else peer.component_templates
                if parts[1] not in store:
                    raise BulkError(404, "resource_not_found_exception", f"{parts[1]} not found")
                self._send(200, {"index_templates": [{"name": parts[1], "index_template": store[parts[1]]}]})
            else:
                raise BulkError(400, "illegal_argument_exception", f"{method} {path} not supported by this peer")
        except BulkError as e:
            self._send(e.status, e.body())

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_HEAD(self) -> None:
        self._handle("HEAD")


if __name__ == "__main__":  # a standalone peer for manual runs and the benchmark
    import argparse

    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=9200)
    ap.add_argument("--flavour", default="es9", choices=["es7", "es8", "es9", "opensearch"])
    a = ap.parse_args()
    s = BulkServer(port=a.port, flavour=a.flavour).start()
    print(f"listening on {s.url}", flush=True)
    threading.Event().wait()
