"""Black-box attack 5: `shipper verify -c CONFIG --output NAME` reads a trail back from a store whose
search answers are partial. Elasticsearch and OpenSearch answer a search, and each scroll page, with
200 and only the hits of the shards that answered when one fails (a node down, a shard relocating):
`_shards.failed` > 0 and `failures` say so (`allow_partial_search_results` defaults to true, search
API reference). The store still holds every event; verify must not tell the auditor that events were
removed from it. Found: verify took the partial answer for the store and reported the other shard's
documents as "missing: sequences …", NOT INTACT, with no word of the shard failure. Now the read asks
for whole answers (allow_partial_search_results=false) and a page with a failed shard is an error.

Likewise a closed index (an operator closes old indices to save heap): a search over a wildcard skips
closed indices without a word (`expand_wildcards` defaults to `open`), so verify called the links of a
closed day's index missing. Now closed indices are expanded and not ignored: the search fails naming it."""
from __future__ import annotations

import gzip
import json
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

SHIPPER = [sys.executable, "-m", "shipper.cli"]
KEY = "an integrity key of some length, 0123456789abcdef"


def one_shard_failed(answer: dict) -> dict:
    """The answer as a 2-shard index gives it while shard 1 (here the documents of sequences 5-20) fails."""
    hits = [h for h in answer["hits"]["hits"] if not 5 <= h["_source"].get("event", {}).get("sequence", 0) <= 20]
    answer["hits"]["hits"] = hits
    answer["hits"]["total"] = {"value": len(hits), "relation": "eq"}
    answer["_shards"] = {"total": 2, "successful": 1, "skipped": 0, "failed": 1, "failures": [
        {"shard": 1, "index": "audit-generic", "node": "n2",
         "reason": {"type": "node_not_connected_exception", "reason": "[n2][10.0.0.2:9300] Node not connected"}}]}
    return answer


def partial_search_proxy(upstream: str) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:
            pass

        def _forward(self, method: str) -> None:
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(n) if n else None
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length", "connection")}
            req = urllib.request.Request(upstream + self.path, data=body, method=method, headers=headers)
            try:
                with urllib.request.urlopen(req, timeout=60) as a:
                    status, data = a.status, a.read()
            except urllib.error.HTTPError as e:
                status, data = e.code, e.read()
            if status == 200 and method != "DELETE" and "_search" in self.path:
                if data[:2] == b"\x1f\x8b":
                    data = gzip.decompress(data)
                data = json.dumps(one_shard_failed(json.loads(data))).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._forward("GET")

        def do_POST(self) -> None:
            self._forward("POST")

        def do_DELETE(self) -> None:
            self._forward("DELETE")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server


def write_trail(tmp: Path) -> None:
    (tmp / "key").write_text(KEY + "\n")
    (tmp / "key").chmod(0o600)
    with open(tmp / "audit.log", "w") as f:
        for i in range(30):  # two days of the product's time: 15 events each
            f.write(json.dumps({"@timestamp": f"2026-01-0{1 + i // 15}T03:04:05Z", "message": f"m{i}", "n": i}) + "\n")


def verify(tmp: Path, cfg: Path) -> subprocess.CompletedProcess:
    return subprocess.run(SHIPPER + ["verify", "--key-file", str(tmp / "key"), "-c", str(cfg), "--output", "store"],
                          capture_output=True, text=True, timeout=300)


def config(tmp: Path, url: str, index: str = "audit-{dataset}") -> Path:
    cfg = tmp / f"shipper-{url.rsplit(':', 1)[1]}.yaml"
    cfg.write_text(f"""
state_dir: {tmp / 'state'}
integrity: {{key_file: {tmp / 'key'}}}
sources:
  - {{name: audit, type: file, paths: ['{tmp / "audit.log"}'], parser: json}}
outputs:
  - {{type: opensearch, name: store, hosts: ['{url}'], index: '{index}'}}
""")
    return cfg


def test_verify_does_not_call_a_partial_search_answer_missing_events(tmp_path):
    from osmem_server import OsmemServer

    write_trail(tmp_path)
    server = OsmemServer.start(addr="127.0.0.1:0", japanese=False)
    proxy = None
    try:
        r = subprocess.run(SHIPPER + ["run", "--once", "-c", str(config(tmp_path, server.url))],
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr[-2000:]
        urllib.request.urlopen(urllib.request.Request(server.url + "/_refresh", method="POST"), timeout=60).read()
        whole = verify(tmp_path, config(tmp_path, server.url))
        assert whole.returncode == 0 and "32 links: intact" in whole.stdout, whole.stdout + whole.stderr
        proxy = partial_search_proxy(server.url)
        url = f"http://127.0.0.1:{proxy.server_address[1]}"
        part = verify(tmp_path, config(tmp_path, url))
    finally:
        if proxy is not None:
            proxy.shutdown()
            proxy.server_close()
        server.close()
    said = part.stdout + part.stderr
    assert part.returncode != 0, f"a store read in part was verified: {said}"
    assert "missing:" not in said and "NOT INTACT" not in said, \
        f"verify told of events missing from a store that holds them all: {said}"
    assert "shard" in said, f"verify did not say that the store answered in part (a shard failed): {said}"


def test_verify_does_not_call_the_links_of_a_closed_index_missing(tmp_path):
    from osmem_server import OsmemServer

    write_trail(tmp_path)
    server = OsmemServer.start(addr="127.0.0.1:0", japanese=False)
    try:
        cfg = config(tmp_path, server.url, index="audit-{yyyy}.{MM}.{dd}")
        r = subprocess.run(SHIPPER + ["run", "--once", "-c", str(cfg)], capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr[-2000:]

        def post(path: str) -> None:
            urllib.request.urlopen(urllib.request.Request(server.url + path, method="POST"), timeout=60).read()

        post("/_refresh")
        whole = verify(tmp_path, cfg)
        assert whole.returncode == 0 and "32 links: intact" in whole.stdout, whole.stdout + whole.stderr
        post("/audit-2026.01.01/_close")  # the first day's 15 events: still in the store, not searchable
        part = verify(tmp_path, cfg)
    finally:
        server.close()
    said = part.stdout + part.stderr
    assert part.returncode != 0, f"a store read in part was verified: {said}"
    assert "missing:" not in said and "NOT INTACT" not in said, \
        f"verify told of events missing from a store that holds them all: {said}"
    assert "audit-2026.01.01" in said and "closed" in said, f"verify did not name the closed index: {said}"
