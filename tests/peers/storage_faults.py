"""A pass-through HTTP proxy in front of Azurite that answers chosen requests the way Azure Storage
does when it throttles (429 or 503 `ServerBusy`, with `Retry-After` and `x-ms-error-code`) or hangs
(accepts the request, never answers). Everything else goes to Azurite unchanged, so shared-key
signatures still verify (they sign the path and headers, not the host)."""
from __future__ import annotations

import http.client
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BUSY_BODY = (b'<?xml version="1.0" encoding="utf-8"?><Error><Code>ServerBusy</Code><Message>The server is busy.'
             b'\nRequestId:00000000-0000-0000-0000-000000000000\nTime:2026-01-01T00:00:00.0000000Z</Message></Error>')


class StorageFaults:
    def __init__(self, upstream_port: int):
        self.upstream_port = upstream_port
        self.lock = threading.Lock()
        # The next requests' answers: (status, Retry-After), or (None, None) to pass one through.
        self.faults: list[tuple[int | None, str | None]] = []
        self.hang = threading.Event()  # while set, requests are held without an answer
        self.released = threading.Event()
        self.log: list[tuple[float, str, int]] = []  # (monotonic time, method + path, status answered)
        peer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _any(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                if peer.hang.is_set():
                    peer.released.wait(60)
                    self.close_connection = True
                    return
                with peer.lock:
                    fault = peer.faults.pop(0) if peer.faults else None
                if fault is not None and fault[0] is not None:  # (None, None): this one passes
                    status, retry_after = fault
                    self.send_response(status)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("x-ms-error-code", "ServerBusy")
                    if retry_after is not None:
                        self.send_header("Retry-After", retry_after)
                    self.send_header("Content-Length", str(len(BUSY_BODY)))
                    self.end_headers()
                    self.wfile.write(BUSY_BODY)
                    peer.log.append((time.monotonic(), f"{self.command} {self.path}", status))
                    return
                conn = http.client.HTTPConnection("127.0.0.1", peer.upstream_port, timeout=30)
                try:
                    headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection",)}
                    conn.request(self.command, self.path, body=body or None, headers=headers)
                    resp = conn.getresponse()
                    data = resp.read()
                finally:
                    conn.close()
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                peer.log.append((time.monotonic(), f"{self.command} {self.path}", resp.status))

            do_GET = do_PUT = do_HEAD = do_DELETE = do_POST = _any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def throttle(self, *answers: tuple[int, str | None]) -> None:
        with self.lock:
            self.faults.extend(answers)

    def close(self) -> None:
        self.released.set()
        self.server.shutdown()
        self.server.server_close()
