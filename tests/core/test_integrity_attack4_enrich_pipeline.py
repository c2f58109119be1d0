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


def _on_failure(doc: dict, processors: list[dict], message: str) -> None:
    """The pipeline's on_failure handler as the server runs it: `set` and `append`, each only where its
    condition holds. The one condition it may use is UNSEALED (no event.hash), evaluated here as Painless
    evaluates `ctx.event?.hash == null`; any other is refused, so a new condition needs its own reading."""
    for p in processors:
        (kind, body), = p.items()
        cond = body.get("if")
        assert cond in (None, "ctx.event?.hash == null"), cond
        if cond is not None and isinstance(doc.get("event"), dict) and doc["event"].get("hash") is not None:
            continue
        value = body["value"].replace("{{{ _ingest.on_failure_message }}}", message)
        *path, last = body["field"].split(".")
        node = doc
        for name in path:
            node = node.setdefault(name, {})
        if kind == "append":
            old = node.get(last)
            node[last] = ([] if old is None else old if isinstance(old, list) else [old]) + [value]
        else:
            assert kind == "set", kind
            node[last] = value


def test_a_sealed_document_the_pipeline_fails_on_is_stored_as_sealed(tmp_path):
    """The pipeline's failure path (`on_failure`: event.kind pipeline_error, error.message appended) wrote
    into sealed fields: that link read "altered". Now it marks only unsealed documents."""
    from shipper_plugins.outputs.elasticsearch_ingest_pipeline import pipeline

    log, cfg = setup(tmp_path)
    append(log, [record(i) for i in range(3)])
    lines = run_once(cfg).splitlines()
    handler = pipeline()["on_failure"]
    failed = [orjson.loads(ln) for ln in lines]
    for doc in failed:  # the server failed on every document (event.ingested not set)
        _on_failure(doc, handler, "field [event] not present as part of path [event.ingested]")
    export = tmp_path / "export.jsonl"
    export.write_bytes(b"".join(orjson.dumps(d) + b"\n" for d in failed))
    v = verify(tmp_path, export)
    assert v.returncode == 0 and "sequences 1-5, 5 links: intact" in v.stdout, v.stdout + v.stderr
    assert [orjson.loads(ln) for ln in lines] == failed  # stored as sealed

    plain = {"event": {"kind": "event"}, "message": "an event shipped without integrity"}
    _on_failure(plain, handler, "boom")
    assert plain["event"]["kind"] == "pipeline_error" and plain["error"]["message"] == ["boom"], plain
