"""Elasticsearch output (official client over real HTTP) against the strict `_bulk` peer."""
from __future__ import annotations

import copy
import gzip
import json
import logging
import os
import subprocess
import sys
import threading
import time
import urllib.request

import orjson
import pytest

from shipper import metrics
from shipper.config import ConfigError, parse_config
from shipper.plugin import Batch, OutputContext, Stopping
from shipper.setup_elasticsearch import ecs_field_types, templates
from shipper_plugins.outputs.elasticsearch import ElasticsearchOutput, ElasticsearchOutputConfig
from tests.peers.bulk_server import BulkServer

VENV_BIN = os.path.dirname(sys.executable)


def make_batch(n: int, start: int = 0, dataset: str = "datameer.audit") -> Batch:
    events = [{"@timestamp": f"2024-05-01T12:00:{i % 60:02d}.000Z", "ecs": {"version": "9.4.0"},
               "event": {"dataset": dataset, "module": dataset.split(".")[0], "kind": "event"},
               "message": f"event {i}", "n": i} for i in range(start, start + n)]
    return Batch("src", "audit.x", events, [f"id{i}" for i in range(start, start + n)], 100 * n)


def make_output(tmp_path, hosts, stop=None, **cfg) -> ElasticsearchOutput:
    cfg.setdefault("name", "es")
    cfg.setdefault("backoff_base", 0.05)
    cfg.setdefault("backoff_max", 0.2)
    cfg.setdefault("request_timeout", 10)
    return ElasticsearchOutput(ElasticsearchOutputConfig(hosts=hosts, **cfg),
                               OutputContext(cfg["name"], stop or threading.Event(), str(tmp_path)))


def counter(metric, name: str) -> float:
    return metric.labels(name)._value.get()


@pytest.fixture
def es():
    s = BulkServer().start()
    yield s
    s.stop()


def test_create_with_stable_ids_into_data_streams(es, tmp_path):
    out = make_output(tmp_path, [es.url], name="es_rt")
    batch = make_batch(20)
    before = copy.deepcopy(batch.events)
    out.send(batch)
    assert batch.events == before, "events are shared between outputs and must not be modified"
    assert es.errors == []
    assert sorted(es.ids("logs-datameer.audit-default")) == sorted(f"id{i}" for i in range(20))
    assert es.docs[("logs-datameer.audit-default", "id3")] == before[3]
    assert es.gzip_requests == es.bulk_requests == 1
    out.close()


def test_replay_is_409_counted_as_duplicates_not_stored_twice(es, tmp_path):
    out = make_output(tmp_path, [es.url], name="es_dup")
    out.send(make_batch(10))
    d0, e0 = counter(metrics.duplicates_avoided, "es_dup"), counter(metrics.output_errors, "es_dup")
    out.send(make_batch(10))
    assert len(es.docs) == 10 and es.conflicts == 10
    assert counter(metrics.duplicates_avoided, "es_dup") - d0 == 10
    assert counter(metrics.output_errors, "es_dup") == e0, "409 on create is not an error"
    out.close()


def test_only_429_and_5xx_items_are_retried(es, tmp_path):
    es.item_status["id2"] = [429, 429]
    es.item_status["id7"] = [503]
    out = make_output(tmp_path, [es.url], name="es_retry")
    r0 = counter(metrics.output_retries, "es_retry")
    out.send(make_batch(10))
    assert sorted(es.ids()) == sorted(f"id{i}" for i in range(10))
    assert es.item_attempts["id2"] == 3 and es.item_attempts["id7"] == 2
    assert all(es.item_attempts[f"id{i}"] == 1 for i in range(10) if i not in (2, 7)), "stored items are not resent"
    assert counter(metrics.output_retries, "es_retry") - r0 == 3
    out.close()


def test_rejected_items_go_to_the_dead_letter_file_and_the_batch_is_acked(es, tmp_path, caplog):
    es.reject_ids |= {"id1", "id4"}
    out = make_output(tmp_path, [es.url], name="es_dead")
    d0 = counter(metrics.dead_lettered, "es_dead")
    with caplog.at_level(logging.WARNING, logger="shipper.output.elasticsearch"):
        out.send(make_batch(6))  # returns: the batch is acked although two items were rejected
    assert sorted(es.ids()) == ["id0", "id2", "id3", "id5"]
    path = tmp_path / "dead_letter" / "es_dead.ndjson"
    lines = [json.loads(l) for l in path.read_text().splitlines()]
    assert [l["_id"] for l in lines] == ["id1", "id4"]
    assert lines[0]["status"] == 400 and lines[0]["error"]["type"] == "document_parsing_exception"
    assert lines[0]["event"]["n"] == 1 and lines[0]["index"] == "logs-datameer.audit-default"
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert counter(metrics.dead_lettered, "es_dead") - d0 == 2
    assert any("dead-letter" in r.getMessage() for r in caplog.records)
    out.close()


def test_whole_request_503_is_retried_and_nothing_lost(es, tmp_path):
    es.fail_requests(3, 503)
    out = make_output(tmp_path, [es.url], name="es_503")
    out.send(make_batch(5))
    assert sorted(es.ids()) == [f"id{i}" for i in range(5)] and es.bulk_requests == 1
    out.close()


def test_down_then_up_and_stopping(tmp_path):
    es = BulkServer().start()
    url = es.url
    es.stop()
    out = make_output(tmp_path, [url], name="es_down")
    t = threading.Thread(target=out.send, args=(make_batch(5),))
    t.start()
    time.sleep(1.0)
    assert t.is_alive(), "nothing is acked while Elasticsearch is unreachable"
    es.start()
    t.join(30)
    assert not t.is_alive() and len(es.docs) == 5
    es.stop()
    stop = threading.Event()
    out2 = make_output(tmp_path, [url], stop=stop, name="es_down2")
    threading.Timer(0.5, stop.set).start()
    with pytest.raises(Stopping):
        out2.send(make_batch(3))


def test_several_hosts_spread_and_survive_a_node_restart(tmp_path):
    a, b = BulkServer().start(), BulkServer().start()
    try:
        out = make_output(tmp_path, [a.url, b.url], name="es_pool", batch_size=5)
        out.send(make_batch(100))
        assert a.bulk_requests > 0 and b.bulk_requests > 0, "requests spread over the nodes"
        b.stop()
        out.send(make_batch(50, start=100))
        total = {i for s in (a, b) for i in s.ids()}
        assert total == {f"id{i}" for i in range(150)}
        assert all(f"id{i}" in a.ids() for i in range(100, 150)), "the live node took over"
        out.close()
    finally:
        a.stop(), b.stop()


def test_batches_are_split_by_batch_size(es, tmp_path):
    out = make_output(tmp_path, [es.url], name="es_split", batch_size=10)
    out.send_many([make_batch(15), make_batch(10, start=15)])
    assert es.bulk_requests == 3 and len(es.docs) == 25
    out.close()


def test_index_pattern_option(es, tmp_path):
    out = make_output(tmp_path, [es.url], name="es_idx", index="audit-{module}-{yyyy}.{MM}")
    out.send(make_batch(3))
    assert set(idx for idx, _ in es.docs) == {"audit-datameer-2024.05"}
    out.close()


@pytest.mark.parametrize("auth,expect", [
    ("basic", "Basic dXNlcjpzM2NyZXQ="),  # user:s3cret
    ("api_key", "ApiKey a2V5aWQ6a2V5"),
    ("bearer", "Bearer tok3n"),
])
def test_auth_from_files_and_environment(es, tmp_path, monkeypatch, caplog, auth, expect):
    es.require_auth = expect
    kw: dict = {}
    if auth == "basic":
        (tmp_path / "pw").write_text("s3cret\n")
        kw = {"username": "user", "password_file": str(tmp_path / "pw")}
    elif auth == "api_key":
        monkeypatch.setenv("ES_KEY", "a2V5aWQ6a2V5")
        kw = {"api_key_env": "ES_KEY"}
    else:
        (tmp_path / "tok").write_text("tok3n")
        kw = {"bearer_token_file": str(tmp_path / "tok")}
    with caplog.at_level(logging.DEBUG):
        out = make_output(tmp_path, [es.url], name=f"es_auth_{auth}", **kw)
        out.send(make_batch(2))
        assert len(es.docs) == 2
        secret = {"basic": "s3cret", "api_key": "a2V5aWQ6a2V5", "bearer": "tok3n"}[auth]
        assert secret not in out.describe() and secret not in repr(out.config)
    assert secret not in caplog.text
    out.close()


def test_wrong_credentials_are_retried_not_acked(es, tmp_path):
    es.require_auth = "Bearer right"
    (tmp_path / "tok").write_text("wrong")
    stop = threading.Event()
    out = make_output(tmp_path, [es.url], stop=stop, name="es_401", bearer_token_file=str(tmp_path / "tok"))
    threading.Timer(1.0, stop.set).start()
    with pytest.raises(Stopping):
        out.send(make_batch(2))
    assert es.docs == {}


def test_tls_verified_with_ca_file(tmp_path):
    import ssl

    import trustme

    ca = trustme.CA()
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(ctx)
    es = BulkServer(ssl_context=ctx).start()
    try:
        ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
        out = make_output(tmp_path, [es.url], name="es_tls", ca_file=str(tmp_path / "ca.pem"))
        out.send(make_batch(2))
        assert len(es.docs) == 2
        out.close()
        stop = threading.Event()
        unverified = make_output(tmp_path, [es.url], stop=stop, name="es_tls_bad")  # system CAs do not know it
        threading.Timer(1.0, stop.set).start()
        with pytest.raises(Stopping):
            unverified.send(make_batch(2, start=2))
        assert len(es.docs) == 2
    finally:
        es.stop()


def test_peer_rejects_bad_bulk_bodies(es):
    def post(body: bytes, ctype="application/x-ndjson"):
        req = urllib.request.Request(es.url + "/_bulk", data=body, method="POST",
                                     headers={"Content-Type": ctype})
        try:
            with urllib.request.urlopen(req) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    assert post(b'{"create":{"_index":"logs-a-default","_id":"1"}}\n{"@timestamp":"x"}')[0] == 400  # no final \n
    assert post(b'{"create":{"_index":"logs-a-default","_id":"1"}}\n{"@timestamp":"x"}\n', "application/json")[0] == 400
    assert post(b'{"create":{"_index":"logs-a-default","bogus":1}}\n{}\n')[0] == 400
    assert post(b'{"create":{},"index":{}}\n{}\n')[0] == 400
    status, body = post(b'{"index":{"_index":"logs-a-default","_id":"1"}}\n{"@timestamp":"x"}\n')
    assert status == 200 and body["errors"] and body["items"][0]["index"]["status"] == 400  # data streams: create only


def test_config_validation():
    base = "sources: [{name: a, type: file, paths: [x], parser: json}]\noutputs:\n"
    for bad, words in [("  - {type: elasticsearch, namespace: Prod-1}", "namespace"),
                       ("  - {type: elasticsearch, index: 'a-{nope}'}", "index"),
                       ("  - {type: elasticsearch, password_file: /x}", "username"),
                       ("  - {type: elasticsearch, hosts: []}", "hosts"),
                       ("  - {type: elasticsearch, api_key_file: /nonexistent/key}", "cannot read api key file"),
                       ("  - {type: elasticsearch, bearer_token_env: SHIPPER_TEST_UNSET_TOKEN}", "SHIPPER_TEST_UNSET_TOKEN")]:
        with pytest.raises(ConfigError) as e:
            parse_config(base + bad + "\n", "s.yaml")
        assert words in str(e.value) and "s.yaml:3" in str(e.value)


# `shipper setup elasticsearch`

def test_template_types_come_from_ecs(ecs):
    tpl = templates(ElasticsearchOutputConfig())
    mappings = tpl["/_component_template/shipper-ecs@mappings"]["template"]["mappings"]["properties"]
    flat = ecs_field_types()["fields"]
    assert ecs_field_types()["ecs_version"] == "9.4.0"
    # The packaged data file agrees with Elastic's ecs_flat.yml on every field's type.
    assert set(flat) == set(ecs.fields)
    for name, spec in ecs.fields.items():
        node = {"properties": mappings}
        for part in name.split("."):
            node = node["properties"][part]
        assert node["type"] == spec["type"], name
    assert mappings["user"]["properties"]["name"]["fields"]["text"]["type"] == "match_only_text"
    for ns in ("datameer", "posit_connect", "databricks", "cloudera_ai", "puppet_enterprise"):
        assert mappings[ns] == {"type": "flattened"}
    index_tpl = tpl["/_index_template/shipper"]
    assert "logs-datameer.*-default" in index_tpl["index_patterns"] and index_tpl["data_stream"] == {}


def test_setup_command_installs_templates(es, tmp_path):
    (tmp_path / "shipper.yaml").write_text(
        f"state_dir: state\nsources: [{{name: a, type: file, paths: [x], parser: json}}]\n"
        f"outputs: [{{type: elasticsearch, hosts: ['{es.url}'], namespace: prod, flattened_namespaces: [acme]}}]\n")
    r = subprocess.run([os.path.join(VENV_BIN, "shipper"), "setup", "elasticsearch", "-c", str(tmp_path / "shipper.yaml")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    tpl = es.templates["shipper"]
    assert tpl["index_patterns"] == ["logs-acme.*-prod"] and tpl["priority"] == 200
    mappings = es.component_templates["shipper-ecs@mappings"]["template"]["mappings"]["properties"]
    assert mappings["acme"] == {"type": "flattened"} and mappings["@timestamp"] == {"type": "date"}
    # Documents written afterwards land in a data stream the template matches.
    assert es.is_data_stream("logs-acme.audit-prod")


def test_setup_command_fails_clearly_when_unreachable(tmp_path):
    (tmp_path / "shipper.yaml").write_text(
        "sources: [{name: a, type: file, paths: [x], parser: json}]\n"
        "outputs: [{type: elasticsearch, hosts: ['http://127.0.0.1:9'], request_timeout: 5}]\n")
    r = subprocess.run([os.path.join(VENV_BIN, "shipper"), "setup", "elasticsearch", "-c", str(tmp_path / "shipper.yaml")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and "_component_template" in r.stderr


@pytest.mark.parametrize("options", ["create", "copytruncate", "compress\n  delaycompress\n  create"])
def test_dead_letter_file_rotated_by_real_logrotate_loses_nothing(es, tmp_path, options):
    """The dead-letter file is opened by name for every write, so logrotate's rename (create) or
    copy-and-truncate (copytruncate) can rotate it under a running output (docs/operations.md)."""
    import subprocess

    out = make_output(tmp_path, [es.url], name="es_rot")
    path = tmp_path / "dead_letter" / "es_rot.ndjson"
    conf = tmp_path / "lr.conf"
    conf.write_text(f"{path} {{\n  rotate 5\n  missingok\n  {options}\n}}\n")
    for round_ in range(3):
        es.reject_ids |= {f"id{round_ * 10 + 1}", f"id{round_ * 10 + 4}"}
        out.send(make_batch(6, start=round_ * 10))
        subprocess.run(["/usr/sbin/logrotate", "-f", "-s", str(tmp_path / "lr.state"), str(conf)], check=True, timeout=60)
    out.close()
    ids = []
    for f in sorted(path.parent.iterdir()):
        data = gzip.decompress(f.read_bytes()) if f.suffix == ".gz" else f.read_bytes()
        ids += [json.loads(line)["_id"] for line in data.splitlines()]
        if f.suffix != ".gz":
            assert oct(f.stat().st_mode & 0o777) == "0o600", f  # personal data stays private after rotation
    assert sorted(ids) == sorted(f"id{r * 10 + k}" for r in range(3) for k in (1, 4))
