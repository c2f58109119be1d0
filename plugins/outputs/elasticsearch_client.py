"""The HTTP side of the Elasticsearch/OpenSearch output: `elastic-transport` (node pool over `hosts`,
dead-node backoff, TLS, gzip), plain JSON media types, auth headers from files or environment.

Why not the high-level client (`elasticsearch` or `opensearch-py`): each speaks to one product.
elasticsearch-py 9 sends `application/vnd.elasticsearch+json; compatible-with=9`, which Elasticsearch 8
refuses (400 media_type_header_exception) and OpenSearch refuses (406), and it refuses any server
without `X-Elastic-Product` (OpenSearch never sends it). opensearch-py in turn is not made for
Elasticsearch 8/9. shipper needs three requests (`GET /`, `POST /_bulk`, template PUT/GET) that
every one of those servers accepts as plain `application/json` / `application/x-ndjson`, so it
uses the transport they share and no product-specific client.

No retries on outage statuses here: the output decides per item what to retry (a retried whole bulk
request would resend what was stored). Only a 401/403 (nothing stored) moves on to the next node.
"""
from __future__ import annotations

import base64
import socket
import ssl
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson
from elastic_transport import NodeConfig, Serializer, Transport, Urllib3HttpNode
from elastic_transport.client_utils import url_to_node_config
from urllib3.exceptions import HTTPError, ReadTimeoutError

from shipper.api import SecretError, read_secret, retry_after as parse_retry_after

# The Retry-After parser (delta-seconds or an HTTP date) the http_poll source uses: one parser for the project.

JSON_HEADERS = {"accept": "application/json", "content-type": "application/json"}
# An answer is read to a bound (counted after gzip is undone), past which the connection is shut and the
# request fails as a connection lost, retried like one: an answer that does not end (a broken node or
# proxy streaming without a length) or a gzip bomb would otherwise be held whole in memory until the OOM
# killer. GET /, a template or a pipeline answer is a few KB: SMALL_ANSWER, unless the request says more.
SMALL_ANSWER = 1 << 20
NDJSON_HEADERS = {"accept": "application/json", "content-type": "application/x-ndjson"}


class _AnswerSerializer(Serializer):
    """Request bodies are bytes already (pass through); answers are JSON when they parse, else the
    text as it came (a proxy's HTML 413 or 502 page must be a status to act on, not a decode error)."""

    mimetype = "application/json"

    def loads(self, data: bytes) -> Any:
        try:
            return orjson.loads(data) if data else None
        except orjson.JSONDecodeError:
            return data.decode("utf-8", "replace")[:2000]

    def dumps(self, data: Any) -> bytes:
        if isinstance(data, bytes):
            return data
        return orjson.dumps(data)


def answer_max(documents: int, their_bytes: int) -> int:
    """The bound on an answer about `documents` documents of `their_bytes` bytes in all (a `_bulk` request,
    or the stored documents an `_mget` returns). A bulk item is ~250 bytes when stored and an error's type
    and reason (a few hundred bytes, a mapping error's preview of the value) when not; an `_mget` answer
    holds each document as stored, with what an ingest pipeline added. 8 KiB a document, twice their bytes
    (a reason may quote the document) and SMALL_ANSWER are far above any real answer and bound a false one."""
    return SMALL_ANSWER + 8192 * documents + 2 * their_bytes


class AnswerTooLarge(HTTPError):
    """An answer past its bound: the connection is shut; elastic_transport makes it a ConnectionError."""


_answer_max = threading.local()  # the bound of the request this thread is making (Client.request sets it)


@dataclass
class Answer:
    status: int
    body: Any  # decoded JSON, or text
    headers: Any


def auth_header(cfg) -> tuple[str, str] | None:
    """(kind for `probe`, Authorization header value), from secret files or the environment."""
    password = read_secret(cfg.password_file, cfg.password_env, "password")
    if cfg.username is not None:
        token = base64.b64encode(f"{cfg.username}:{password or ''}".encode()).decode()
        return f"basic (user {cfg.username})", f"Basic {token}"
    api_key = read_secret(cfg.api_key_file, cfg.api_key_env, "api key")
    if api_key:
        return "api key", f"ApiKey {api_key}"
    bearer = read_secret(cfg.bearer_token_file, cfg.bearer_token_env, "bearer token")
    if bearer:
        return "bearer token", f"Bearer {bearer}"
    return None


class Client:
    """A node pool over `hosts`; `request()` returns the status and answer of any HTTP status and
    raises elastic_transport's ConnectionError / ConnectionTimeout / TlsError when no node answered."""

    def __init__(self, cfg):
        self._cfg = cfg
        auth = auth_header(cfg)
        in_url = any(urlsplit(h).username for h in cfg.hosts)  # url_to_node_config makes it a header
        self.auth_kind = auth[0] if auth else ("basic (user in the host URL)" if in_url else "none")
        # Sent with each request (over the node's own headers), so that a secret fixed in its file after
        # a refusal is used at the next attempt without a restart.
        self._auth = auth[1] if auth else None
        self._reread_auth = False
        # Seconds the last answer asked us to wait (Retry-After on a 429 or 503), else None.
        self.retry_after: float | None = None
        headers: dict[str, str] = {}
        nodes: list[NodeConfig] = []
        for url in cfg.hosts:
            node = url_to_node_config(url, use_default_ports_for_scheme=True)
            kw: dict[str, Any] = {"headers": {**node.headers, **headers}, "http_compress": cfg.compress,
                                  "request_timeout": cfg.request_timeout}
            if node.scheme == "https":
                kw["verify_certs"] = cfg.verify_certs
                kw["ca_certs"] = cfg.ca_file
            nodes.append(node.replace(**kw))
        self.tls = _describe_tls(cfg)
        serializer = _AnswerSerializer()
        self.transport = Transport(
            nodes,
            node_class=_DeadlineNode,
            serializers={"application/json": serializer, "application/x-ndjson": serializer,
                         "application/*": serializer, "text/*": serializer},
            # A refused connection or a timeout moves to the next node of the pool (which marks the
            # failed node dead and retries it later); with one host there is nothing to move to.
            max_retries=len(nodes) - 1,
            retry_on_timeout=True,  # safe: every document is a `create` with a stable `_id`
            # One node refusing the credentials (its own realm, a proxy in front of it) must not stop
            # the others: the next node is asked; only when every node refuses is it the answer. Nothing
            # was stored by a 401/403 request, so asking again repeats nothing.
            retry_on_status=(401, 403),
            dead_node_backoff_factor=1.0,
            max_dead_node_backoff=30.0,
            meta_header=False,  # x-elastic-client-meta describes Elastic's own clients, not this one
        )

    def request(self, method: str, path: str, body: Any = None, headers: dict | None = None,
                max_answer: int = SMALL_ANSWER) -> Answer:
        """`max_answer`: the bytes of answer (after gzip) past which the connection is shut (AnswerTooLarge)."""
        headers = dict(headers or (JSON_HEADERS if body is not None else {"accept": "application/json"}))
        if self._reread_auth:
            self._refresh_auth()
        if self._auth:
            headers["authorization"] = self._auth
        self.retry_after = None
        _answer_max.bytes = max_answer
        try:
            resp = self.transport.perform_request(method, path, body=body, headers=headers)
        finally:
            _answer_max.bytes = SMALL_ANSWER
        self._reread_auth = resp.meta.status in (401, 403)
        if resp.meta.status in (429, 503):
            self.retry_after = parse_retry_after(resp.meta.headers.get("retry-after"))
        return Answer(resp.meta.status, resp.body, resp.meta.headers)

    def _refresh_auth(self) -> None:
        """The secret read again after a 401/403: the operator may have fixed its file since."""
        try:
            auth = auth_header(self._cfg)
        except SecretError:  # mid-rewrite or gone: the one read before is all there is
            return
        if auth:
            self._auth = auth[1]

    def close(self) -> None:
        self.transport.close()


class _DeadlineNode(Urllib3HttpNode):
    """urllib3's timeouts bound each socket read, not an answer: a server (or proxy) dripping a byte a
    second, in the headers or the body, would hold a bulk request, and with it every batch behind it,
    forever. Here `request_timeout` bounds the whole answer: past it the connection is shut and the
    request fails as a timeout (retried, like any other). The answer is read in pieces (urllib3 inflates
    a gzip answer a piece at a time too) and cut past its bound (`answer_max`)."""

    def __init__(self, config: NodeConfig):
        super().__init__(config)
        # The node calls only `urlopen` on its pool; _DeadlinePool hands everything else to the pool.
        self.pool = _DeadlinePool(self.pool, config.request_timeout)  # type: ignore[assignment]


class _Call:
    """One request's connection, so that the deadline's timer (another thread) can shut it."""

    def __init__(self):
        self.conn = None
        self.cut = False
        self.lock = threading.Lock()

    def shut(self) -> None:
        with self.lock:
            sock = getattr(self.conn, "sock", None)
            if sock is None:
                return
            self.cut = True
            try:
                sock.shutdown(socket.SHUT_RDWR)  # the blocked read returns at once
            except OSError:
                pass


class _DeadlinePool:
    def __init__(self, pool, seconds: float | None):
        self._pool, self._seconds = pool, seconds
        self._calls = threading.local()
        get_conn = pool._get_conn

        def _get_conn(timeout=None):  # urllib3 takes the connection here: remember it for the timer
            conn = get_conn(timeout)
            call = getattr(self._calls, "current", None)
            if call is not None:
                with call.lock:
                    call.conn = conn
            return conn

        pool._get_conn = _get_conn

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pool, name)

    def urlopen(self, method: str, url: str, **kw: Any):
        limit = getattr(_answer_max, "bytes", SMALL_ANSWER)
        call = self._calls.current = _Call()
        timer = threading.Timer(self._seconds, call.shut) if self._seconds is not None else None
        if timer is not None:
            timer.daemon = True
            timer.start()
        try:
            resp = self._pool.urlopen(method, url, preload_content=False, **kw)
            try:
                body = _read_bounded(resp, limit)
            except BaseException:
                resp.close()  # mid-answer: this connection must never go back to the pool
                raise
        except Exception:
            if call.cut:
                raise ReadTimeoutError(self._pool, url, f"answer not complete after {self._seconds:g} s "
                                                        "(request_timeout)") from None
            raise
        finally:
            if timer is not None:
                timer.cancel()
            with call.lock:
                call.conn = None  # done: a late timer must not shut a connection back in the pool
            self._calls.current = None
        if call.cut:  # shut just as the answer ended: it may be cut short
            resp.close()
            raise ReadTimeoutError(self._pool, url, f"answer not complete after {self._seconds:g} s (request_timeout)")
        resp.release_conn()
        resp._body = body  # what `.data` returns, as with preload_content
        return resp


def _read_bounded(resp, limit: int) -> bytes:
    """The answer's body, inflated a piece at a time (urllib3 bounds each piece it inflates), or
    AnswerTooLarge once more than `limit` bytes of it came."""
    announced = resp.headers.get("content-length", "")
    if announced.isdigit() and "content-encoding" not in resp.headers and int(announced) > limit:
        raise AnswerTooLarge(f"the answer announces {int(announced)} bytes, over the {limit} this request allows; "
                             "hung up")
    parts, size = [], 0
    while piece := resp.read1(65536):
        size += len(piece)
        if size > limit:
            raise AnswerTooLarge(f"the answer ran past the {limit} bytes this request allows (a server or proxy "
                                 "sending without end, or a gzip bomb); hung up")
        parts.append(piece)
    return b"".join(parts)


def _describe_tls(cfg) -> str:
    if not any(h.startswith("https") for h in cfg.hosts):
        return "none (http)"
    if not cfg.verify_certs:
        return "on, certificate NOT verified"
    return f"verified with {cfg.ca_file}" if cfg.ca_file else "verified with the system CAs"


def transport_reason(e: BaseException) -> str:
    """An elastic_transport error with what happened (its str() alone is "Connection error")."""
    return f"{type(e).__name__}: {str(getattr(e, 'message', e))[:300]}"


def _chain(e: BaseException) -> list[BaseException]:
    """The exceptions under elastic_transport's TlsError (which says only "TLS error"), outermost first."""
    seen, out, todo = set(), [], [e]
    while todo:
        x = todo.pop(0)
        if id(x) in seen:
            continue
        seen.add(id(x))
        out.append(x)
        inner = [x.__cause__, x.__context__, *(getattr(x, "errors", None) or ()), *getattr(x, "args", ())]
        todo += [c for c in inner if isinstance(c, BaseException)]
    return out


def _ssl_error(e: BaseException) -> ssl.SSLError | None:
    return next((x for x in _chain(e) if isinstance(x, ssl.SSLError)), None)


def tls_reason(e: BaseException) -> str:
    """What TLS refused: the certificate check, the handshake's reason, or the CA file not loading."""
    x = _ssl_error(e)
    if isinstance(x, ssl.SSLCertVerificationError):
        return f"certificate verify failed: {x.verify_message}"
    if x is not None:
        return f"{x.reason or x}"
    io = next((x for x in _chain(e) if isinstance(x, (FileNotFoundError, PermissionError, IsADirectoryError))), None)
    if io is not None:
        return f"cannot load the CA file: {io.strerror}"
    return str(getattr(e, "message", e))


def tls_refused(e: BaseException) -> bool:
    """False for a handshake cut short (the peer closed or reset it: a restart, a balancer), which a
    retry can fix; True for what it cannot (certificate, protocol, no TLS on the other side)."""
    x = _ssl_error(e)
    return not isinstance(x, (ssl.SSLEOFError, ssl.SSLZeroReturnError, ssl.SSLSyscallError))


def acknowledged(body: Any) -> bool:
    """Whether a template or pipeline PUT was stored: Elasticsearch and OpenSearch answer
    `{"acknowledged": true}`; a proxy's 200 page or `false` stores nothing."""
    return isinstance(body, dict) and body.get("acknowledged") is True


def error_reason(body: Any) -> str:
    """A short reason from an error answer: `type: reason (caused by: ...)`, or the text."""
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict):
            text = f"{err.get('type')}: {err.get('reason')}"
            cause = err.get("caused_by")
            if isinstance(cause, dict) and cause.get("reason"):
                text += f" (caused by: {cause.get('reason')})"
            return text[:500]
        return str(err)[:500]
    return str(body or "").strip()[:200]
