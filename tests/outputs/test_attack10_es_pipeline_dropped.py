"""Black-box attack 10 (the output side): an Elasticsearch whose ingest pipeline drops some documents — a `drop`
processor in the index's `default_pipeline` or `final_pipeline`, put there by an administrator to cut "noise", or a
pipeline whose condition is wrong. Elasticsearch then answers those bulk items `"status": 200, "result": "noop"`
(`_version` -3, no shards: BulkRequestModifier.markItemAsDropped), and stores nothing. Played by tests/hostile_es.py
(no Elasticsearch can be installed here), with the item as Elasticsearch 8 writes it.

Found (by hand 2 of 2, and with this test): shipper counts the dropped documents as stored. `run --once` ends
"shipped 50, failed 0 (dead-lettered) ... 0 bytes lost", exit 0, and nothing in the journal says that 5 of the
50 audit events are in no index.

Promised (README, DEVELOPERS.md): nothing lost silently; "Elasticsearch: every item 2xx, 409, or dead-lettered"
was written for items that were stored. A `noop` item stored nothing: it must at least be named (count, output,
the pipeline's doing) and counted, so that an auditor's trail is not short without a word. Fixed: a warning
names them (at once, then at most once a minute, and at the close) and shipper_output_dropped_by_server counts
them; they are not sent again (they would be dropped again)."""
from __future__ import annotations

import json
import subprocess

from tests.hostile_es import SHIPPER, HostileES, config


def dropped_item(op: str, meta: dict) -> dict:
    return {op: {"_index": meta.get("_index", "logs-generic.json-default"), "_id": meta["_id"], "_version": -3,
                 "result": "noop", "_shards": {"total": 0, "successful": 0, "failed": 0}, "status": 200}}


def test_documents_an_ingest_pipeline_dropped_are_named(tmp_path):
    def bulk(server, actions):
        items = []
        for op, meta, doc in actions:
            if doc["generic"]["n"] % 10 == 0:  # the pipeline's condition matches these
                items.append(dropped_item(op, meta))
            else:
                items.append(server.store(op, meta, doc))
        return 200, {}, json.dumps({"took": 1, "errors": False, "items": items}).encode()

    es = HostileES(bulk=bulk)
    try:
        cfg = config(tmp_path, [es.url], n=50)
        r = subprocess.run([SHIPPER, "run", "--once", "--timeout", "30", "-c", str(cfg)], capture_output=True,
                           text=True, cwd=tmp_path, timeout=120)
    finally:
        es.stop()
    assert sorted(es.ns()) == [n for n in range(50) if n % 10], es.ns()  # what the server kept
    said = [line for line in r.stderr.splitlines() if "level=info" not in line and ("noop" in line or "dropped" in line)]
    assert said, f"5 of 50 events stored nowhere, nothing said (exit {r.returncode}): {r.stderr.strip().splitlines()[-1]}"
    assert len(said) == 1 and "kept 5 events nowhere" in said[0], said  # one warning, at the close, with the count
