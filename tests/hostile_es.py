"""A small scriptable Elasticsearch stand-in for the attack tests: it answers GET / as Elasticsearch 8
and lets each test decide how a `_bulk` request is answered (partial or reordered item lists, odd
statuses, bodies that never end, proxies in front). Documents it reports stored are kept by _id."""
from __future__ import annotations

import base64
import gzip
import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

VENV_BIN = os.path.dirname(sys.executable)
SHIPPER = os.path.join(VENV_BIN, "shipper")

ES8_ROOT = {"name": "node-1", "cluster_name": "c", "cluster_uuid": "u",
            "version": {"number": "8.15.0", "build_flavor": "default", "build_type": "docker",
                        "lucene_version": "9.11.1", "minimum_wire_compatibility_version": "7.17.0",
                        "minimum_index_compatibility_version": "7.0.0"},
            "tagline": "You Know, for Search"}


def parse_bulk(body: bytes) -> list[tuple[str, dict, dict]]:
    lines = [l for l in body.split(b"\n") if l.strip()]
    out = []
    for a, d in zip(lines[::2], lines[1::2]):
        action = json.loads(a)
        op, meta = next(iter(action.items()))
        out.append((op, meta, json.loads(d)))
    return out


def item(op: str, meta: dict, status: int, error: dict | None = None) -> dict:
    it = {"_index": meta.get("_index", "x"), "_id": meta.get("_id"), "status": status}
    if error:
        it["error"] = error
    else:
        it.update({"_version": 1, "result": "created", "_seq_no": 0, "_primary_term": 1})
    return {op: it}


class HostileES:
    """bulk(server, actions) -> (status, headers, body bytes) or None for the default (store all)."""

    def __init__(self, bulk=None, root=None):
        self.docs: dict[str, dict] = {}
        self.bulk_calls = 0
        self.stopped = threading.Event()
        self.password: str | None = None
        self.lock = threading.Lock()
        self.bulk = bulk
        self.root = root or (lambda srv: (200, {"X-Elastic-Product": "Elasticsearch"}, json.dumps(ES8_ROOT).encode()))
        server = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _reply(self, status, headers, body):
                self.send_response(status)
                headers = dict(headers)
                headers.setdefault("Content-Type", "application/json")
                for k, v in headers.items():
                    self.send_header(k, v)
                if body is not None:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if body is not None:
                    self.wfile.write(body)

            def _read(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n)
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                return body

            def _refused(self) -> bool:
                """401 unless the basic auth password is `server.password` (when one is set)."""
                if server.password is None:
                    return False
                want = "Basic " + base64.b64encode(f"elastic:{server.password}".encode()).decode()
                if self.headers.get("Authorization") == want:
                    return False
                self._read()
                self._reply(401, {}, json.dumps({"status": 401, "error": {
                    "type": "security_exception", "reason": "unable to authenticate user [elastic]"}}).encode())
                return True

            def do_GET(self):
                if self._refused():
                    return
                if self.path.split("?")[0] == "/":
                    self._reply(*server.root(server))
                else:
                    self._reply(200, {}, b"{}")

            do_HEAD = do_GET

            def do_PUT(self):
                self._read()
                self._reply(200, {}, b'{"acknowledged": true}')

            def do_POST(self):
                if self._refused():
                    return
                body = self._read()
                if "_bulk" not in self.path:
                    self._reply(200, {}, b"{}")
                    return
                actions = parse_bulk(body)
                with server.lock:
                    server.bulk_calls += 1
                answer = server.bulk(server, actions) if server.bulk else None
                if answer is None:
                    answer = server.store_all(actions)
                if answer == "hang":
                    threading.Event().wait(120)
                    return
                if answer == "drip_headers":  # the status line, then a header line a second, never the end
                    self.wfile.write(b"HTTP/1.1 200 OK\r\n")
                    for i in range(120):
                        if server.stopped.wait(1.0):
                            break
                        try:
                            self.wfile.write(b"X-Drip-%d: a\r\n" % i)
                            self.wfile.flush()
                        except OSError:
                            break
                    self.close_connection = True
                    return
                if answer == "drip":  # headers, then a byte a second: every read succeeds, none ends it
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", "100000")
                    self.end_headers()
                    self.wfile.write(b"{")
                    for _ in range(120):
                        if server.stopped.wait(1.0):
                            break
                        try:
                            self.wfile.write(b" ")
                            self.wfile.flush()
                        except OSError:
                            break
                    self.close_connection = True
                    return
                self._reply(*answer)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def store(self, op, meta, doc) -> dict:
        with self.lock:
            if meta["_id"] in self.docs:
                return item(op, meta, 409, {"type": "version_conflict_engine_exception", "reason": "exists"})
            self.docs[meta["_id"]] = doc
            return item(op, meta, 201)

    def store_all(self, actions):
        items = [self.store(op, meta, doc) for op, meta, doc in actions]
        return 200, {}, json.dumps({"took": 1, "errors": any("error" in next(iter(i.values())) for i in items),
                                    "items": items}).encode()

    def ns(self) -> list[int]:
        return sorted(d["generic"]["n"] for d in self.docs.values())

    def stop(self):
        self.stopped.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def write_events(path: Path, n: int, start: int = 0) -> None:
    with open(path, "ab") as f:
        for k in range(start, start + n):
            f.write(json.dumps({"@timestamp": "2024-05-01T12:00:00Z", "n": k, "user": f"u{k}"}).encode() + b"\n")


def config(tmp: Path, hosts: list[str], extra: str = "", n: int = 0) -> Path:
    log = tmp / "audit.log"
    if n:
        write_events(log, n)
    cfg = tmp / "shipper.yaml"
    # A key given twice is a config error: a request_timeout in `extra` replaces the default one.
    timeout = "" if "request_timeout" in extra else ", request_timeout: 3"
    cfg.write_text(f"""
state_dir: state
shutdown_timeout: 5
sources:
  - {{name: audit, type: file, paths: ['{log}'], parser: json, poll_interval: 0.2}}
outputs:
  - {{type: elasticsearch, name: es, hosts: {json.dumps(hosts)}, backoff_base: 0.05, backoff_max: 0.5,
      flush_interval: 0.1{timeout}, index: "audit"{extra}}}
""")
    return cfg


def run_once(cfg: Path, timeout: float = 20, wall: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([SHIPPER, "run", "--once", "--timeout", str(timeout), "-c", str(cfg)],
                          capture_output=True, text=True, timeout=wall)


def dead_letter_ns(tmp: Path, name: str = "es") -> list[int]:
    p = tmp / "state" / "dead_letter" / f"{name}.ndjson"
    if not p.exists():
        return []
    return sorted(json.loads(l)["event"]["generic"]["n"] for l in p.read_text().splitlines())
