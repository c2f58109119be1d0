"""The optional HTTP endpoint (config `http: {listen: "127.0.0.1:8742"}`; off by default).

/metrics  Prometheus text from shipper.metrics.REGISTRY (prometheus-client's own WSGI app)
/health   200 when every output delivered within its health_threshold, else 503; JSON reasons; sources failing
          to read now are listed (`sources_failing`, status "degraded", still 200)
/status   JSON for `shipper status`: per source position, in-flight, last ack; per output last success

Served by BoundedHttpServer: one thread, one epoll loop, so the endpoint can never hurt shipping.
It holds at most `max_connections` sockets (and never more than 1/16 of the descriptor limit: the
rest stay for the tailer and the outputs); a connection must deliver its whole request head within
`header_timeout` seconds (a slowloris trickling bytes is cut off) and take its answer within
`idle_timeout` seconds of no progress. When full, the oldest connection still waiting for its head is
closed for a new one, so a flood of idle connections cannot keep /health from answering.
Why not a library: wsgiref/ThreadingWSGIServer have no connection bound nor head deadline (one
thread and one descriptor per idle connection); waitress bounds connections but refuses new ones
when full (a flood starves /health) and has only an idle timeout, which a trickle defeats. Three
GET paths over HTTP/1.1 with `Connection: close` is little enough to own.
"""
from __future__ import annotations

import errno
import io
import logging
import os
import selectors
import socket
import threading
import time
from http import HTTPStatus
from typing import Any, Callable
from urllib.parse import urlsplit

import orjson
from prometheus_client import make_wsgi_app
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from shipper import metrics
from shipper.failures import failing_sources, source_last_error
from shipper.fdlimit import MAX_CONNECTIONS, endpoint_connections
from shipper.log import Throttled
from shipper.secrets import redact_obj

log = logging.getLogger("shipper.http")


def parse_listen(listen: str) -> tuple[str, int]:
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"http.listen must be HOST:PORT, got {listen!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


def output_health(pipeline) -> dict[str, dict[str, Any]]:
    """Per output: healthy unless it has held batches without delivering one for health_threshold."""
    out = {}
    for name, w in list(pipeline.workers.items()):
        cfg = pipeline.output_configs.get(name)
        threshold = cfg.health_threshold if cfg else 300.0
        pending = w.pending()
        stuck = pipeline.undelivered_for.get(name, 0.0)
        errors = w.counts.errors.value
        doc: dict[str, Any] = {"healthy": True, "pending_batches": pending, "last_success": w.last_success,
                               "last_error": w.error_now() or w.last_error, "errors": int(errors),
                               "refused": w.refused}
        if not w.alive() and name in pipeline.output_started and not pipeline.abandon.is_set():
            doc.update(healthy=False, reason="output thread ended")
        elif w.refused:  # no threshold: retrying will not fix it, someone has to
            doc.update(healthy=False, reason=f"refused by the server: {w.refused}")
        elif (pending or w.busy) and stuck > threshold:
            doc.update(healthy=False, reason=f"batches waiting, nothing delivered for {stuck:.0f}s (threshold {threshold:.0f}s)"
                       + (f"; last error: {w.last_error}" if w.last_error else ""))
        out[name] = doc
    return out


def source_status(pipeline) -> dict[str, dict[str, Any]]:
    out = {}
    for name, r in list(pipeline.runners.items()):
        try:
            live = r.source.status()
        except Exception as e:  # a plugin's status() must not break the endpoint
            live = {"status_error": f"{type(e).__name__}: {e}"}
        out[name] = {"last_error": source_last_error(r.source), **{
            "type": r.cfg.type, "parser": r.cfg.parser, "tag": r.tag,
            "running": r.thread.is_alive(), "error": None if r.error is None else str(r.error),
            "in_flight_batches": r.tracker.in_flight(), "last_ack": r.last_commit, "status": live,
            "parse_workers": r.parse_workers(),
            # Stopped by a reload that waits for the batches its outputs are still sending (reload_apply)
            "reload_wait": r.tracker.in_flight() if pipeline.reloads.draining.get(name) is r else None,
        }}
    return out


class PipelineCollector(Collector):
    """Values computed at scrape time: checkpoint age and parse workers per source, in-flight fill per output."""

    def __init__(self, pipeline):
        self.pipeline = pipeline

    def collect(self):
        now = time.time()
        age = GaugeMetricFamily("shipper_checkpoint_age_seconds", "Seconds since the source's last checkpoint commit",
                                labels=["source"])
        for name, r in list(self.pipeline.runners.items()):
            if r.last_commit is not None:
                age.add_metric([name], now - r.last_commit)
        fill = GaugeMetricFamily("shipper_in_flight_fill_ratio",
                                 "Queued share of an output's in-flight budget (batches or bytes, the fuller)",
                                 labels=["output"])
        for name, w in list(self.pipeline.workers.items()):
            fill.add_metric([name], max(w.pending() / w.max_batches, w.pending_bytes() / w.max_bytes))
        workers = GaugeMetricFamily("shipper_parse_workers",
                                    "Worker processes parsing for the source (0: its own thread; parse_workers: auto "
                                    "starts them for a backlog)", labels=["source"])
        for name, r in list(self.pipeline.runners.items()):
            workers.add_metric([name], r.parse_workers())
        yield age
        yield fill
        yield workers



class _Conn:
    __slots__ = ("sock", "head", "out", "deadline", "born")

    def __init__(self, sock: socket.socket, deadline: float, born: float):
        self.sock = sock
        self.head = bytearray()
        self.out: memoryview | None = None  # set once the request head is in: the answer to send
        self.deadline = deadline
        self.born = born


class BoundedHttpServer:
    """A WSGI app served on one thread (see the module doc): GET/HEAD, one request per connection."""

    MAX_HEAD = 8192  # bytes of request line + headers; more is answered 431

    def __init__(self, host: str, port: int, app: Callable, *, max_connections: int = 64,
                 header_timeout: float = 5.0, idle_timeout: float = 10.0):
        self.app = app
        self.max_connections = endpoint_connections(max_connections)
        self.header_timeout = header_timeout
        self.idle_timeout = idle_timeout
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._listen = socket.socket(family, socket.SOCK_STREAM)
        try:
            self._listen.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._listen.bind((host, port))
            self._listen.listen(128)
        except OSError:
            self._listen.close()
            raise
        self._listen.setblocking(False)
        self.host = host
        self.port = self._listen.getsockname()[1]
        self._sel = selectors.DefaultSelector()
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._conns: dict[int, _Conn] = {}  # by fd, in accept order (dicts keep insertion order)
        self._stop = threading.Event()
        self._done = threading.Event()
        self._accept_paused_until = 0.0
        self._accept_trouble = Throttled(log, interval=60.0)

    # -- lifecycle
    def serve_forever(self) -> None:
        self._sel.register(self._listen, selectors.EVENT_READ, "listen")
        self._sel.register(self._wake_r, selectors.EVENT_READ, "wake")
        try:
            while not self._stop.is_set():
                now = time.monotonic()
                if self._accept_paused_until and now >= self._accept_paused_until:
                    self._accept_paused_until = 0.0
                    self._sel.register(self._listen, selectors.EVENT_READ, "listen")
                wake = min((c.deadline for c in self._conns.values()), default=now + 1.0)
                if self._accept_paused_until:
                    wake = min(wake, self._accept_paused_until)
                # Nothing to time out: asleep until a connection or shutdown() (its wake pipe), so
                # that an idle agent with metrics on does not wake every second for nothing.
                timeout = None if not self._conns and not self._accept_paused_until else max(0.0, min(1.0, wake - now))
                for key, mask in self._sel.select(timeout):
                    if key.data == "listen":
                        self._accept()
                    elif key.data == "wake":
                        pass
                    else:
                        conn = self._conns.get(key.fd)
                        if conn is None:
                            continue
                        if mask & selectors.EVENT_READ and conn.out is None:
                            self._read(conn)
                        elif mask & selectors.EVENT_WRITE and conn.out is not None:
                            self._write(conn)
                self._expire(time.monotonic())
        except Exception:
            log.exception("http endpoint loop failed; the endpoint is closed, shipping goes on")
        finally:
            for conn in list(self._conns.values()):
                self._close(conn)
            self._done.set()

    def shutdown(self) -> None:
        self._stop.set()
        try:
            os.write(self._wake_w, b"x")
        except OSError:
            pass

    def server_close(self) -> None:
        self._done.wait(timeout=10)
        for fd in (self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass
        self._sel.close()
        self._listen.close()

    # -- connections
    def _accept(self) -> None:
        for _ in range(256):  # then let reads run; the rest wait in the backlog
            try:
                sock, _addr = self._listen.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                if e.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    # Out of descriptors: stop accepting a moment rather than spin on the listener.
                    self._accept_trouble.failure("http endpoint cannot accept: out of descriptors",
                                                 error=f"[Errno {e.errno}] {e.strerror}")
                    self._sel.unregister(self._listen)
                    self._accept_paused_until = time.monotonic() + 0.5
                    return
                if e.errno in (errno.ECONNABORTED, errno.EPROTO, errno.EPERM):
                    continue
                raise
            if len(self._conns) >= self.max_connections and not self._evict_one():
                sock.close()  # every slot is sending an answer: this one must try again
                continue
            sock.setblocking(False)
            now = time.monotonic()
            conn = _Conn(sock, now + self.header_timeout, now)
            self._conns[sock.fileno()] = conn
            self._sel.register(sock, selectors.EVENT_READ, "conn")

    def _evict_one(self) -> bool:
        """Close the oldest connection still waiting for its request head (read what it sent first)."""
        for conn in list(self._conns.values()):
            if conn.out is None:
                self._read(conn)
                if conn.sock.fileno() in self._conns and conn.out is None:
                    self._close(conn)
                    return True
                if conn.sock.fileno() not in self._conns:
                    return True
        return False

    def _read(self, conn: _Conn) -> None:
        try:
            data = conn.sock.recv(4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._close(conn)
            return
        if not data:
            self._close(conn)
            return
        conn.head += data
        end = conn.head.find(b"\r\n\r\n")
        if end < 0 and len(conn.head) > self.MAX_HEAD:
            self._respond(conn, 431, b"request head too large\n")
        elif end >= 0:
            self._dispatch(conn, bytes(conn.head[:end]))

    def _dispatch(self, conn: _Conn, head: bytes) -> None:
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            self._respond(conn, 400, b"bad request line\n")
            return
        method, target, _version = parts
        if method not in ("GET", "HEAD"):
            self._respond(conn, 405, b"only GET and HEAD\n", [("Allow", "GET, HEAD")])
            return
        url = urlsplit(target)
        environ: dict[str, Any] = {
            "REQUEST_METHOD": method, "PATH_INFO": url.path or "/", "QUERY_STRING": url.query,
            "SERVER_NAME": self.host, "SERVER_PORT": str(self.port), "SERVER_PROTOCOL": "HTTP/1.1",
            "wsgi.input": io.BytesIO(), "wsgi.errors": io.StringIO(), "wsgi.url_scheme": "http",
            "wsgi.version": (1, 0), "wsgi.multithread": False, "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if sep:
                environ["HTTP_" + name.strip().upper().replace("-", "_")] = value.strip()
        answer: dict[str, Any] = {}

        def start_response(status, headers, exc_info=None):
            answer["status"], answer["headers"] = status, headers

        try:
            body = b"".join(self.app(environ, start_response))
        except Exception:
            log.exception("http endpoint error", extra={"path": url.path})
            self._respond(conn, 500, b"internal error\n")
            return
        code = int(answer["status"].split(" ", 1)[0])
        headers = [(k, v) for k, v in answer["headers"] if k.lower() not in ("content-length", "connection")]
        self._respond(conn, code, b"" if method == "HEAD" else body, headers, length=len(body))

    def _respond(self, conn: _Conn, code: int, body: bytes, headers=(), length: int | None = None) -> None:
        head = [f"HTTP/1.1 {code} {HTTPStatus(code).phrase}", "Connection: close",
                f"Content-Length: {len(body) if length is None else length}"]
        if not any(k.lower() == "content-type" for k, _ in headers):
            head.append("Content-Type: text/plain; charset=utf-8")
        head += [f"{k}: {v}" for k, v in headers]
        conn.out = memoryview(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
        conn.deadline = time.monotonic() + self.idle_timeout
        self._sel.modify(conn.sock, selectors.EVENT_WRITE, "conn")
        self._write(conn)

    def _write(self, conn: _Conn) -> None:
        if conn.out is None:  # the request head is not in yet: nothing to answer
            return
        try:
            n = conn.sock.send(conn.out)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._close(conn)
            return
        conn.out = conn.out[n:]
        conn.deadline = time.monotonic() + self.idle_timeout  # progress: the idle clock starts again
        if not conn.out:
            try:
                conn.sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            self._close(conn)

    def _expire(self, now: float) -> None:
        for conn in [c for c in self._conns.values() if c.deadline <= now]:
            self._close(conn)

    def _close(self, conn: _Conn) -> None:
        fd = conn.sock.fileno()
        if fd >= 0:
            self._conns.pop(fd, None)
            try:
                self._sel.unregister(conn.sock)
            except (KeyError, ValueError):
                pass
        conn.sock.close()


class HttpEndpoint:
    def __init__(self, pipeline, listen: str, health_extra: Callable[[], list[str]] | None = None,
                 max_connections: int = MAX_CONNECTIONS,
                 header_timeout: float = 5.0, idle_timeout: float = 10.0):
        self.pipeline = pipeline
        self.listen = listen
        self.health_extra = health_extra or (lambda: [])  # e.g. the runner's watchdog findings
        self._metrics_app = make_wsgi_app(metrics.REGISTRY)
        self._collector = PipelineCollector(pipeline)
        host, port = parse_listen(listen)
        self._server = BoundedHttpServer(host, port, self._app, max_connections=max_connections,
                                         header_timeout=header_timeout, idle_timeout=idle_timeout)
        self.port = self._server.port
        self._thread = threading.Thread(target=self._server.serve_forever, name="http", daemon=True)

    def start(self) -> None:
        try:
            metrics.REGISTRY.register(self._collector)
        except ValueError:
            pass  # already registered (a reload re-created the endpoint)
        self._thread.start()
        log.info("http endpoint listening", extra={"listen": f"{self._server.host}:{self.port}",
                                                   "max_connections": self._server.max_connections})

    def close(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=10)
        self._server.server_close()
        try:
            metrics.REGISTRY.unregister(self._collector)
        except KeyError:
            pass

    def _json(self, start_response, code: str, doc: Any):
        body = orjson.dumps(redact_obj(doc), default=str)  # a dsn or URL in an error keeps its password
        start_response(code, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]

    def _app(self, environ, start_response):
        path = environ.get("PATH_INFO", "/")
        try:
            if path == "/metrics":
                return self._metrics_app(environ, start_response)
            if path == "/health":
                outputs = output_health(self.pipeline)
                stalled = list(self.health_extra())
                bad = {n: d["reason"] for n, d in outputs.items() if not d["healthy"]}
                trouble = getattr(self.pipeline, "checkpoint_trouble", None)  # commits failing, or one stuck
                store_error = trouble() if trouble is not None else None
                ok = not bad and not stalled and not store_error
                doc = {"status": "ok" if ok else "unhealthy", "outputs": outputs}
                failing = failing_sources(self.pipeline)
                if failing:  # reported, not a 503: restarting the agent would not mend a database or an API
                    doc["sources_failing"] = failing
                    if ok:
                        doc["status"] = "degraded"
                if stalled:
                    doc["stalled"] = stalled
                if store_error:
                    doc["checkpoints"] = store_error
                if bad or store_error:
                    doc["reason"] = "; ".join([f"output {n}: {r}" for n, r in bad.items()]
                                              + ([store_error] if store_error else []))
                return self._json(start_response, "200 OK" if ok else "503 Service Unavailable", doc)
            if path == "/status":
                return self._json(start_response, "200 OK", {
                    "pid": os.getpid(), "config": self.pipeline.config.path,
                    "sources": source_status(self.pipeline), "outputs": output_health(self.pipeline)})
            return self._json(start_response, "404 Not Found", {"error": "not found", "paths": ["/metrics", "/health", "/status"]})
        except Exception as e:
            log.exception("http endpoint error", extra={"path": path})
            return self._json(start_response, "500 Internal Server Error", {"error": f"{type(e).__name__}: {e}"})
