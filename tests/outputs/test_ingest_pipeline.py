"""`shipper setup elasticsearch`'s enrichment (plugins/outputs/elasticsearch_ingest_pipeline.py): the ingest pipeline
and the typed vendor mappings, checked against the bulk peer's refusals and against the parsers' own output."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from shipper_plugins.outputs.elasticsearch_ingest_pipeline import namespace_mapping, pipeline, vendor_field_types
from shipper_plugins.outputs.elasticsearch_server import Server
from shipper_plugins.parsers.databricks import DatabricksParser
from tests.outputs.test_output_elasticsearch import http
from tests.peers import bulk_server
from tests.peers.bulk_server import BulkServer
from tests.vendor_lists import SAMPLES

NAMESPACES = ("datameer", "posit_connect", "databricks", "cloudera_ai", "puppet_enterprise")


def test_pipeline_enriches_as_the_integrations_do():
    procs = [next(iter(p.items())) for p in pipeline()["processors"]]
    kinds = [k for k, _ in procs]
    assert kinds[0] == "set" and procs[0][1]["field"] == "event.ingested"
    geo = [body for k, body in procs if k == "geoip"]
    assert {g["target_field"] for g in geo} == {"source.geo", "source.as"}
    assert all(g["field"] == "source.ip" and g["ignore_missing"] and g["ignore_failure"] for g in geo)
    ua = [body for k, body in procs if k == "user_agent"]
    assert ua == [{"field": "user_agent.original", "target_field": "user_agent", "ignore_missing": True,
                   "ignore_failure": True, "tag": "user_agent", "if": "ctx.event?.hash == null"}]
    # A sealed event (event.hash) is stored as sealed: only event.ingested, which its hash leaves out, is added
    assert [body.get("if") for _, body in procs] == [None] + ["ctx.event?.hash == null"] * (len(procs) - 1)
    renamed = {body["target_field"] for k, body in procs if k == "rename"}
    assert {"source.as.number", "source.as.organization.name"} <= renamed
    assert {"set": {"field": "event.kind", "value": "pipeline_error", "if": "ctx.event?.hash == null"}} in pipeline()["on_failure"]


@pytest.mark.parametrize("flavour,version", [("es7", "7.17.25"), ("es9", "9.1.5"), ("opensearch", "1.3.20"),
                                             ("opensearch", "2.19.1")])
def test_every_server_flavour_takes_the_pipeline(flavour, version):
    es = BulkServer(flavour=flavour, version=version).start()
    try:
        status, body, _ = http(es.url + "/_ingest/pipeline/shipper-enrich", pipeline(), method="PUT")
        assert status == 200, body
        status, body, _ = http(es.url + "/_ingest/pipeline/bad", {"processors": [{"frobnicate": {"field": "x"}}]},
                               method="PUT")
        assert status == 400 and "frobnicate" in body["error"]["reason"]
    finally:
        es.stop()


def test_each_parser_declares_its_known_fields():
    for ns in NAMESPACES:
        types = vendor_field_types(ns)
        assert types, ns
        assert set(types.values()) <= {"keyword", "long", "boolean", "flattened"}, ns
    assert vendor_field_types("no_such_product") == {}


def test_namespace_mapping_types_known_fields_and_keeps_the_rest_unindexed():
    es9, os1 = Server("elasticsearch", "9.1.5"), Server("opensearch", "1.3.20")
    m = namespace_mapping("databricks", es9)
    assert m["type"] == "object" and m["dynamic"] is False
    assert m["properties"]["request_params"] == {"type": "flattened"}
    assert m["properties"]["response"]["properties"]["status_code"] == {"type": "long"}
    assert m["properties"]["actor_type"] == {"type": "keyword", "ignore_above": 1024}
    assert namespace_mapping("databricks", os1)["properties"]["request_params"] == {"type": "object", "enabled": False}
    assert namespace_mapping("acme", es9) == {"type": "flattened"}  # no parser says anything: as before


def _leaf(doc: dict, dotted: str):
    for part in dotted.split("."):
        if not isinstance(doc, dict) or part not in doc:
            return None
        doc = doc[part]
    return doc


def test_declared_types_hold_for_the_databricks_sample_shapes():
    """What the parser writes in a declared field has the declared shape (a mismatch would be refused)."""
    types = vendor_field_types("databricks")
    shapes = {"keyword": (str, int), "long": (int,), "boolean": (bool,), "flattened": (dict,)}
    seen = set()
    for path in sorted((SAMPLES / "azure_databricks").glob("*.json*")):
        for line in path.read_bytes().splitlines():
            for ev in DatabricksParser().parse(line):
                for field, kind in types.items():
                    v = _leaf(ev.get("databricks", {}), field)
                    if v is not None:
                        seen.add(field)
                        assert isinstance(v, shapes[kind]) and not isinstance(v, dict) or kind == "flattened", \
                            (path.name, field, v)
    assert {"actor_type", "record_format", "request_params", "response.status_code"} <= seen


def _setup(tmp_path, es) -> "subprocess.CompletedProcess":
    (tmp_path / "shipper.yaml").write_text(
        f"state_dir: state\nsources: [{{name: a, type: file, paths: [x], parser: json}}]\n"
        f"outputs: [{{type: elasticsearch, hosts: ['{es.url}']}}]\n")
    return subprocess.run([os.path.join(os.path.dirname(sys.executable), "shipper"), "setup", "elasticsearch",
                           "-c", str(tmp_path / "shipper.yaml")], capture_output=True, text=True, timeout=120)


def test_a_server_without_geoip_gets_the_rest_of_the_pipeline(tmp_path, monkeypatch):
    monkeypatch.setattr(bulk_server, "INGEST_PROCESSORS", bulk_server.INGEST_PROCESSORS - {"geoip"})
    es = BulkServer(flavour="es9", version="9.1.5").start()
    try:
        r = _setup(tmp_path, es)
        assert r.returncode == 0, r.stderr
        assert "without geoip" in r.stdout
        kinds = [next(iter(p)) for p in es.pipelines["shipper-enrich"]["processors"]]
        assert "geoip" not in kinds and "user_agent" in kinds and kinds[0] == "set"
        assert not any(p.get("rename", {}).get("field", "").startswith("source.as.")
                       for p in es.pipelines["shipper-enrich"]["processors"])
        assert es.component_templates["shipper@settings"]["template"]["settings"]["index"]["final_pipeline"] == "shipper-enrich"
    finally:
        es.stop()


def test_a_server_refusing_pipelines_still_gets_its_templates(tmp_path, monkeypatch):
    monkeypatch.setattr(bulk_server, "INGEST_PROCESSORS", set())  # every processor refused
    es = BulkServer(flavour="es9", version="9.1.5").start()
    try:
        r = _setup(tmp_path, es)
        assert r.returncode == 0, r.stderr
        assert "without enrichment" in r.stderr and not es.pipelines
        assert "final_pipeline" not in es.component_templates["shipper@settings"]["template"]["settings"]["index"]
        assert "shipper" in es.templates
    finally:
        es.stop()
