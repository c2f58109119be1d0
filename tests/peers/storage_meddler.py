"""A pass-through proxy in front of Azurite whose answers a test rewrites: `hook(method, path, headers,
status, resp_headers, body)` returns (status, headers, body) to send, or None to pass the answer as is.
Used to play a misbehaving storage service (cut pages, looping continuation tokens, short bodies)."""
from __future__ import annotations

import http.client
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Meddler:
    def __init__(self, upstream_port: int, account: str):
        self.upstream_port = upstream_port
        self.hook = None
        self.log: list[tuple[str, str, int]] = []
        peer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _any(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                conn = http.client.HTTPConnection("127.0.0.1", peer.upstream_port, timeout=30)
                try:
                    headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
                    conn.request(self.command, self.path, body=body or None, headers=headers)
                    resp = conn.getresponse()
                    data = resp.read()
                finally:
                    conn.close()
                status, rh = resp.status, [(k, v) for k, v in resp.getheaders()
                                           if k.lower() not in ("transfer-encoding", "connection", "content-length")]
                if peer.hook is not None:
                    changed = peer.hook(self.command, self.path, self.headers, status, rh, data)
                    if changed is not None:
                        status, rh, data = changed
                self.send_response(status)
                for k, v in rh:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                peer.log.append((self.command, self.path, status))

            do_GET = do_PUT = do_HEAD = do_DELETE = do_POST = _any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/{account}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
