"""Black-box attack 5: README's Fluentd → Elasticsearch tier (`id_field`: "for `id_key _shipper_id` +
`remove_keys _shipper_id` in fluent-plugin-elasticsearch"). The store behind Fluentd is an index, and an
index has no order: fluent-plugin-elasticsearch flushes chunks as they come and retries a failed one
after later ones went (its buffer's retry). The auditor can only export that index and give it to
`verify --output fluentd` (docs/evidence.md: "an export of the index"); verify now judges an
Elasticsearch output's store by sequence alone, but a Fluentd output's store by its order. Found: the
export of an honest Fluentd → Elasticsearch store, one chunk stored after the next one by a retry, is NOT
INTACT: every event of the retried chunk "reordered". Fixed: the Fluentd output says its store has no
order to judge (`ordered: false` in attestations), as Elasticsearch's does."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request

import pytest

from tests.peers.forward_server import ForwardServer

pytestmark = pytest.mark.slow

SHIPPER = [sys.executable, "-m", "shipper.cli"]
KEY = "an integrity key of some length, 0123456789abcdef"


def call(url: str, method: str, path: str, body: bytes | dict | None = None, ctype: str = "application/json"):
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    req = urllib.request.Request(url + path, method=method, data=data, headers={"Content-Type": ctype})
    with urllib.request.urlopen(req, timeout=60) as answer:
        return json.loads(answer.read() or b"null")


def test_an_export_of_a_fluentd_tier_index_verifies(tmp_path):
    from osmem_server import OsmemServer

    (tmp_path / "key").write_text(KEY + "\n")
    os.chmod(tmp_path / "key", 0o600)
    with open(tmp_path / "audit.log", "w") as f:
        for i in range(60):
            f.write(json.dumps({"@timestamp": "2026-01-02T03:04:05Z", "message": f"m{i}", "n": i}) + "\n")
    peer = ForwardServer().start()
    try:
        cfg = tmp_path / "shipper.yaml"
        cfg.write_text(f"""
state_dir: {tmp_path / 'state'}
integrity: {{key_file: {tmp_path / 'key'}}}
sources:
  - {{name: audit, type: file, paths: ['{tmp_path / "audit.log"}'], parser: json, batch_size: 20}}
outputs:
  - {{type: fluentd, port: {peer.port}, batch_size: 20}}
""")
        r = subprocess.run(SHIPPER + ["run", "--once", "-c", str(cfg)], capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr[-2000:]
    finally:
        peer.stop()
    records = [rec for _, _, rec in peer.records]
    if len(records) != 62:
        raise RuntimeError(f"Fluentd did not get the 60 events and 2 attestations: {len(records)}")
    # What fluent-plugin-elasticsearch makes of them (id_key/remove_keys _shipper_id), chunk by chunk of 20:
    # the second chunk failed once and was stored after the third.
    chunks = [records[i:i + 20] for i in range(0, 62, 20)]
    server = OsmemServer.start(addr="127.0.0.1:0", japanese=False)
    try:
        for chunk in [chunks[0], chunks[2], chunks[1], *chunks[3:]]:
            body = b""
            for rec in chunk:
                rec = dict(rec)
                _id = rec.pop("_shipper_id")
                body += json.dumps({"create": {"_index": "fluentd-audit", "_id": _id}}).encode() + b"\n"
                body += json.dumps(rec).encode() + b"\n"
            assert not call(server.url, "POST", "/_bulk", body, "application/x-ndjson")["errors"]
        call(server.url, "POST", "/_refresh")
        hits = call(server.url, "POST", "/fluentd-audit/_search?scroll=1m", {"size": 1000, "sort": ["_doc"]})["hits"]["hits"]
    finally:
        server.close()
    if len(hits) != 62:
        raise RuntimeError(f"the index holds {len(hits)} documents, not 62")
    export = tmp_path / "export.jsonl"
    export.write_text("".join(json.dumps(h["_source"]) + "\n" for h in hits))
    v = subprocess.run(SHIPPER + ["verify", "--key-file", str(tmp_path / "key"), "--output", "fluentd", str(export)],
                       capture_output=True, text=True, timeout=300)
    reordered = [line for line in v.stdout.splitlines() if "reordered:" in line]
    assert v.returncode == 0 and not reordered, \
        f"an honest Fluentd -> Elasticsearch store fails verify ({len(reordered)} 'reordered'): {v.stdout[-1500:]}"
