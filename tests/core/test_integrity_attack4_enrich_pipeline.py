"""Attack on `shipper verify` (issue 18): the trail as Elasticsearch stores it after the ingest
pipeline that `shipper setup elasticsearch` itself installs as the index's `final_pipeline`. That
pipeline writes `event.ingested` (and GeoIP/ASN of `source.ip`, `user_agent.*`) into every document
after the agent sealed it, so the `_source` an export or the read-back gives `verify` is not the
event as sealed. An honest trail of the documented set-up must verify; today every link is called
altered, so the auditor cannot tell the store's own enrichment from tampering. Fixed: event.ingested
is the store's and outside the hash; the enrichments that write into sealed fields skip a sealed event."""
from __future__ import annotations

import json
import subprocess

import orjson

from tests.core.test_integrity import SHIPPER, append, record, run_once, setup, verify


def _apply_set(doc: dict, field: str, value: str) -> None:
    """Elasticsearch's `set` processor on a dotted field: objects made on the way."""
    *path, last = field.split(".")
    for name in path:
        doc = doc.setdefault(name, {})
    doc[last] = value


def test_an_export_of_an_index_enriched_by_the_pipeline_setup_installs_verifies(tmp_path):
    log, cfg = setup(tmp_path)
    append(log, [record(i) for i in range(5)])
    lines = run_once(cfg).splitlines()
    assert len(lines) == 7  # start attestation, 5 events, stop attestation

    # The pipeline `setup` installs for the same sources shipped to Elasticsearch with integrity on.
    es_cfg = tmp_path / "es.yaml"
    es_cfg.write_text(cfg.read_text().replace("  - type: stdout",
                                              "  - {type: elasticsearch, hosts: ['http://127.0.0.1:9']}"))
    r = subprocess.run(SHIPPER + ["setup", "elasticsearch", "-c", str(es_cfg), "--print"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    bodies = json.loads(r.stdout)
    pipelines = [b for path, b in bodies.items() if path.startswith("/_ingest/pipeline/")]
    assert len(pipelines) == 1, list(bodies)
    # Its unconditional `set` processors, as the server runs them on every document it indexes
    # (`{{{_ingest.timestamp}}}` is the time of ingest).
    sets = [p["set"] for p in pipelines[0]["processors"] if "set" in p and "if" not in p["set"]]

    stored = []
    for line in lines:
        doc = orjson.loads(line)
        for s in sets:
            value = s["value"].replace("{{{_ingest.timestamp}}}", "2026-12-04T23:00:00.123456789Z")
            _apply_set(doc, s["field"], value)
        stored.append(orjson.dumps(doc))
    export = tmp_path / "export.jsonl"  # `_source` of each hit, one a line (docs/evidence.md)
    export.write_bytes(b"".join(s + b"\n" for s in stored))

    v = verify(tmp_path, export)
    assert v.returncode == 0, v.stdout + v.stderr
    assert "sequences 1-7, 7 links: intact" in v.stdout, v.stdout

    # Only the date string the server writes is left out: content riding along under that name is not.
    doc = orjson.loads(stored[2])
    doc["event"]["ingested"] = {"note": "unsealed content"}
    stored[2] = orjson.dumps(doc)
    export.write_bytes(b"".join(s + b"\n" for s in stored))
    v = verify(tmp_path, export)
    assert v.returncode != 0 and "altered: sequence 3 " in v.stdout, v.stdout + v.stderr
