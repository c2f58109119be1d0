"""HTTP side of `type: http_poll`: one GET of a Puppet Enterprise activity API page, errors sorted by what to do.

Client: urllib3. It is already installed with the Elasticsearch client (elastic-transport depends on it),
verifies TLS against a given CA bundle, pools connections and has separate connect/read timeouts; its own
retries are switched off because the source retries with its own backoff and must see every failure.
requests/httpx would only wrap it (and are not dependencies of shipper).
"""
from __future__ import annotations

import json
import os
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import orjson
import urllib3
from urllib3.exceptions import HTTPError as Urllib3Error, SSLError, TimeoutError as Urllib3Timeout

from shipper.api import exact_json, retry_after

USER_AGENT = "shipper-http-poll"


class PollError(Exception):
    """A page could not be had; `kind` labels the metric and picks the log line."""

    kind = "error"


class AuthError(PollError):
    kind = "auth"


class TransientError(PollError):
    kind = "unavailable"

    def __init__(self, message: str, kind: str | None = None, retry_after: float | None = None):
        super().__init__(message)
        if kind is not None:
            self.kind = kind  # timeout, tls, connect, http_5xx, http_429
        self.retry_after = retry_after  # seconds the server asked us to wait (Retry-After), if it did


class TooLarge(PollError):
    """An answer over max_response_bytes: the source asks for smaller pages."""

    kind = "too_large"


class RequestError(PollError):
    """4xx other than 401/403: the URL or a parameter is wrong. Retried (an operator may fix the server)."""

    kind = "http_4xx"


class Redirected(PollError):
    """A 3xx: the events endpoint moved, or something in front of it (a proxy, a login page) sends the request
    elsewhere. Never followed: the token goes with every request, and the new address may be another host
    (urllib3 keeps the header on a cross-host redirect unless told which to strip). Retried: an operator
    sets `url` to the new address, or mends what redirects."""

    kind = "http_3xx"


MAX_LOCATION = 512  # characters of a Location header quoted in the log line


class MalformedPage(PollError):
    kind = "malformed_page"

    def __init__(self, message: str, body: bytes):
        super().__init__(message)
        self.body = body


@dataclass(slots=True)
class Page:
    commits: list[Any]
    total: int | None  # v1 `total-rows`, v2 `pagination.total` (int or string in the wild)


def parse_total(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def parse_page(body: bytes, api_version: str) -> Page:
    try:
        doc = exact_json.loads(body)  # an id past 64 bits stays its digits (orjson alone floats it)
    except orjson.JSONDecodeError as e:
        doc = _lenient_json(body)
        if doc is None:
            raise MalformedPage(f"response is not JSON: {e}", body)
    if not isinstance(doc, dict):
        raise MalformedPage(f"response is a JSON {type(doc).__name__}, not an object", body)
    commits = doc.get("commits")
    if commits is None:
        commits = []  # the API leaves `commits` out of an empty page in some versions
    if not isinstance(commits, list):
        raise MalformedPage("`commits` is not a list", body)
    pagination = doc.get("pagination")
    total = parse_total(pagination.get("total")) if isinstance(pagination, dict) else None
    if total is None:
        total = parse_total(doc.get("total-rows", doc.get("total_rows")))
    return Page(commits, total)


def _lenient_json(body: bytes) -> Any:
    """JSON that orjson refuses but the stdlib reads (a lone surrogate escape, a number out of range):
    read it, with such strings repaired, rather than stall the cursor on a page that is only odd."""
    try:
        doc = json.loads(body.decode("utf-8", "replace"))
    except ValueError:
        return None
    return _repair(doc)


def _repair(value: Any) -> Any:
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    if isinstance(value, list):
        return [_repair(v) for v in value]
    if isinstance(value, dict):
        return {_repair(k): _repair(v) for k, v in value.items()}
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return None
    if isinstance(value, int) and not isinstance(value, bool) and not -(2 ** 63) <= value < 2 ** 63:
        return str(value)  # as exact_json gives it: the digits, which orjson can write
    return value


class TokenFile:
    """The RBAC token, re-read whenever the file changes (tokens expire and get renewed in place)."""

    def __init__(self, path: str):
        self.path = path
        self._sig: tuple | None = None
        self._token: str | None = None

    def signature(self) -> tuple | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def changed(self) -> bool:
        return self.signature() != self._sig

    def get(self) -> str:
        sig = self.signature()
        if sig is None or sig != self._sig or self._token is None:
            try:
                with open(self.path, encoding="utf-8") as f:
                    token = f.read().strip()
            except (OSError, UnicodeDecodeError) as e:
                self._sig, self._token = sig, None
                raise AuthError(f"cannot read the token file {self.path}: {e}")
            self._sig = sig
            if not token:
                self._token = None
                raise AuthError(f"the token file {self.path} is empty")
            self._token = token
        return self._token


class ActivityClient:
    """`timeout` bounds each connect and socket read; `deadline` the whole answer (headers and body: a server
    dripping a byte at a time is cut there); `max_bytes` the body (Content-Length checked first, then as it
    comes). `abort()` (from another thread, at shutdown) cuts the answer being read."""

    def __init__(self, url: str, api_version: str, token: TokenFile, ca_file: str | None, timeout: float,
                 deadline: float | None = None, max_bytes: int = 64 * 1024 * 1024):
        self.url = url
        self.api_version = api_version
        self.token = token
        self.ca_file = ca_file
        self.read_timeout = timeout
        self.deadline = deadline if deadline is not None else timeout
        self.max_bytes = max_bytes
        self.timeout = urllib3.Timeout(connect=min(10.0, timeout), read=timeout)
        self._reading: socket.socket | None = None
        self._socks: list[socket.socket] = []  # this client's connections (the pool holds one, rarely two)
        self._lock = threading.Lock()
        self._aborted = False
        self._pool: urllib3.PoolManager | None = None
        parts = urlsplit(url)
        self._parts = parts
        self._base_query = parse_qsl(parts.query, keep_blank_values=True)

    def _manager(self) -> urllib3.PoolManager:
        if self._pool is None:
            kwargs: dict[str, Any] = {"cert_reqs": "CERT_REQUIRED", "retries": False, "timeout": self.timeout,
                                      "maxsize": 1}
            if self.ca_file:
                if not os.path.isfile(self.ca_file):
                    raise TransientError(f"the CA file {self.ca_file} does not exist")
                kwargs["ca_certs"] = self.ca_file
            self._pool = urllib3.PoolManager(**kwargs)
            # Connections that tell the client their socket, so abort() can cut one still waiting for headers.
            client = self

            def tracked(base):
                class Tracked(base):
                    def connect(self):
                        super().connect()
                        client._track(self.sock)

                return Tracked

            class HTTPPool(urllib3.HTTPConnectionPool):
                ConnectionCls = tracked(urllib3.connection.HTTPConnection)

            class HTTPSPool(urllib3.HTTPSConnectionPool):
                ConnectionCls = tracked(urllib3.connection.HTTPSConnection)

            self._pool.pool_classes_by_scheme = {"http": HTTPPool, "https": HTTPSPool}
        return self._pool

    def _track(self, sock) -> None:
        with self._lock:
            self._socks = [s for s in self._socks if s.fileno() != -1][-3:] + [sock]
            aborted = self._aborted
        if aborted:
            self._cut(sock)

    def page_url(self, service: str, offset: int, limit: int) -> str:
        params = [*self._base_query, ("service_id", service), ("order", "asc"),
                  ("offset", str(offset)), ("limit", str(limit))]
        p = self._parts
        return urlunsplit((p.scheme, p.netloc, p.path, urlencode(params), ""))

    def get(self, service: str, offset: int, limit: int) -> Page:
        headers = {"X-Authentication": self.token.get(), "Accept": "application/json", "User-Agent": USER_AGENT}
        url = self.page_url(service, offset, limit)
        start = time.monotonic()
        end = start + self.deadline
        timeout = urllib3.Timeout(connect=min(10.0, self.read_timeout, self.deadline),
                                  read=min(self.read_timeout, self.deadline))
        try:
            resp = self._manager().request("GET", url, headers=headers, redirect=False, preload_content=False,
                                           timeout=timeout)
        except SSLError as e:
            ca = self.ca_file or "the system trust store"
            raise TransientError(f"TLS verification of {self._parts.netloc} against {ca} failed: {e}", "tls")
        except Urllib3Timeout as e:
            raise TransientError(f"timed out: {e}", "timeout")
        except Urllib3Error as e:
            raise TransientError(f"cannot reach {self._parts.netloc}: {e}", "connect")
        try:
            status = resp.status
            if status in (401, 403):
                raise AuthError(f"HTTP {status}: the activity API refused the token in {self.token.path} "
                                f"(expired or lacking the permission to view activity?); write a valid token there")
            if status >= 500 or status == 429:
                raise TransientError(f"HTTP {status} from {self._parts.netloc}", "http_429" if status == 429 else "http_5xx",
                                     retry_after(resp.headers.get("Retry-After")))
            if 300 <= status < 400:
                location = resp.headers.get("Location")
                where = (f"to {urljoin(self.url, location)[:MAX_LOCATION]}" if location
                         else "with no Location header")
                raise Redirected(f"HTTP {status} for {self._parts.path} (service_id={service}): redirected {where}; "
                                 "not followed (the token would go along to wherever it points): if the activity API "
                                 "moved, set the source's `url` to its new address")
            if status != 200:
                body = self._body(resp, end, 512)[:512].decode("utf-8", "replace")
                raise RequestError(f"HTTP {status} for {self._parts.path} (service_id={service}): {body}")
            return parse_page(self._body(resp, end, None), self.api_version)
        finally:
            # request() answers an HTTPResponse, whose isclosed() its declared base type lacks
            resp.release_conn() if resp.isclosed() else self._discard(resp)  # type: ignore[attr-defined]

    def _body(self, resp, end: float, keep: int | None) -> bytes:
        """The body, read as it comes within the deadline and the byte limit (keep: only that much is wanted)."""
        limit = self.max_bytes
        length = resp.headers.get("Content-Length")
        if keep is None and length and length.isdigit() and int(length) > limit:
            raise TooLarge(f"the answer announces {int(length)} bytes, over max_response_bytes ({limit})")
        conn = resp.connection
        sock = getattr(conn, "sock", None)
        with self._lock:
            if self._aborted:
                raise TransientError("stopping", "timeout")
            self._reading = sock
        body = bytearray()
        try:
            while True:
                left = end - time.monotonic()
                if left <= 0:
                    raise TransientError(f"the answer took longer than its deadline ({self.deadline:g}s, "
                                         f"`answer_deadline`): {len(body)} bytes read", "timeout")
                if sock is not None:
                    sock.settimeout(min(self.read_timeout, left))
                try:
                    chunk = resp.read1(64 * 1024)
                except Urllib3Timeout:
                    if end - time.monotonic() <= 0.01:
                        raise TransientError(f"the answer took longer than its deadline ({self.deadline:g}s, "
                                             f"`answer_deadline`): {len(body)} bytes read", "timeout")
                    raise TransientError(f"no byte of the answer for {self.read_timeout:g}s (`timeout`) after "
                                         f"{len(body)} bytes", "timeout")
                except (Urllib3Error, OSError) as e:
                    if self._aborted:
                        raise TransientError("stopping: the answer was cut", "timeout")
                    raise TransientError(f"the answer from {self._parts.netloc} broke off after {len(body)} bytes: "
                                         f"{e}", "connect")
                if not chunk:
                    return bytes(body)
                body += chunk
                if keep is not None and len(body) >= keep:
                    return bytes(body)
                if len(body) > limit:
                    raise TooLarge(f"the answer is over max_response_bytes ({limit}): cut after {len(body)} bytes")
        finally:
            with self._lock:
                self._reading = None

    def _discard(self, resp) -> None:
        """An answer not read to its end: its connection cannot be reused."""
        try:
            resp.close()
            conn = resp.connection
            if conn is not None:
                conn.close()
        except Exception:
            pass
        resp.release_conn()

    def abort(self) -> None:
        """Cut the answer being waited for or read now, and any later one (the source is stopping)."""
        with self._lock:
            self._aborted = True
            socks = [*self._socks, *([self._reading] if self._reading is not None else [])]
        for sock in socks:
            self._cut(sock)

    @staticmethod
    def _cut(sock) -> None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def close(self) -> None:
        if self._pool is not None:
            self._pool.clear()
