"""Elasticsearch/OpenSearch output (elastic-transport over real HTTP) against the strict `_bulk` peer,
in each of its flavours: Elasticsearch 7.17, 8.x, 9.x and OpenSearch."""
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

import pytest

from shipper import metrics
from shipper.config import ConfigError, parse_config
from shipper.ecs_schema import ecs_field_types
from shipper.errors import PermanentRefusal
from shipper.plugin import Batch, OutputContext, Stopping
from shipper_plugins.outputs.elasticsearch import ElasticsearchOutput, ElasticsearchOutputConfig
from shipper_plugins.outputs.elasticsearch_setup import templates
from tests.peers.bulk_server import BulkServer
from tests.support import wait

VENV_BIN = os.path.dirname(sys.executable)
FLAVOURS = ["es7", "es8", "es9", "opensearch"]


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
    """The output's count as Prometheus scrapes it (Family.get is gone: the core reads counts through the pipeline)."""
    return metrics.REGISTRY.get_sample_value(f"{metric.name}_total", {"output": name}) or 0.0


@pytest.fixture(params=FLAVOURS)
def es(request):
    s = BulkServer(flavour=request.param).start()
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
    assert es.media_type_refusals == 0
    expected = ("opensearch", es.flavour.number) if es.flavour.opensearch else ("elasticsearch", es.flavour.number)
    assert (out.server.flavour, out.server.number) == expected, "the server's flavour and version were read"
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


@pytest.mark.parametrize("flavour,status", [("es8", 429), ("opensearch", 503)])
def test_retry_after_on_429_and_503_is_waited_for_within_backoff_max(tmp_path, flavour, status):
    """A throttling proxy's Retry-After (seconds or an HTTP date) is waited for, not hammered at the
    backoff's 0.05 s; a date an hour away is capped at backoff_max; a value that is neither is ignored."""
    from email.utils import formatdate

    es = BulkServer(flavour=flavour).start()
    try:
        es.fail_requests(1, status, retry_after="2")
        out = make_output(tmp_path, [es.url], name=f"es_ra_{status}", backoff_max=4)
        out.send(make_batch(3))
        times = es.request_times
        assert times[1] - times[0] >= 1.9, "the retry came before the 2 s the server asked for"
        es.fail_requests(1, status, retry_after=formatdate(time.time() + 3600, usegmt=True))
        es.fail_requests(1, status, retry_after="soon, maybe")
        first = len(es.request_times)
        sender = threading.Thread(target=out.send, args=(make_batch(3, start=3),), daemon=True)
        sender.start()
        sender.join(60)  # an hour without the cap
        assert not sender.is_alive() and sorted(es.ids()) == [f"id{i}" for i in range(6)]
        times = es.request_times[first:]
        assert times[1] - times[0] >= 3.8, "the date an hour away is waited for up to backoff_max (4 s)"
        assert times[2] - times[1] < 3.8, "a Retry-After that is no number or date is the normal backoff"
        out.close()
    finally:
        es.stop()


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_down_then_up_and_stopping(tmp_path, flavour):
    es = BulkServer(flavour=flavour).start()
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


def test_wrong_credentials_are_a_permanent_refusal_not_acked(es, tmp_path):
    es.require_auth = "Bearer right"
    (tmp_path / "tok").write_text("wr0ngtoken")
    out = make_output(tmp_path, [es.url], name="es_401", bearer_token_file=str(tmp_path / "tok"))
    with pytest.raises(PermanentRefusal) as e:
        out.send(make_batch(2))  # raised at once, not retried inside: the core shows it and backs off
    assert "401" in str(e.value) and "credentials" in str(e.value) and es.url in str(e.value)
    assert "wr0ngtoken" not in str(e.value)
    assert es.docs == {}
    es.require_auth = "Bearer wr0ngtoken"  # fixed on the server side: the next try delivers
    out.send(make_batch(2))
    assert len(es.docs) == 2
    out.close()


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
        unverified = make_output(tmp_path, [es.url], name="es_tls_bad")  # system CAs do not know it
        with pytest.raises(PermanentRefusal) as e:
            unverified.send(make_batch(2, start=2))
        assert "TLS" in str(e.value) and "certificate" in str(e.value).lower()
        assert len(es.docs) == 2
        unverified.close()
    finally:
        es.stop()


def http(url: str, body=None, method: str = "POST", headers: dict | None = None):
    """(status, decoded body, response headers) of one request; bytes bodies are sent as they are."""
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method,
                                 headers=headers or {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read() or b"null"), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null"), dict(e.headers)


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
    if es.flavour.opensearch:  # no built-in logs-*-* data stream template: a plain index takes `index`
        assert status == 200 and not body["errors"]
    else:
        assert status == 200 and body["errors"] and body["items"][0]["index"]["status"] == 400  # data streams: create only


def test_config_validation():
    base = "sources: [{name: a, type: file, paths: [x], parser: json}]\noutputs:\n"
    for bad, words in [("  - {type: elasticsearch, namespace: Prod-1}", "namespace"),
                       ("  - {type: elasticsearch, index: 'a-{nope}'}", "index"),
                       ("  - {type: elasticsearch, password_file: /x}", "username"),
                       ("  - {type: elasticsearch, hosts: []}", "hosts"),
                       ("  - {type: elasticsearch, hosts: ['es1:9200']}", "http://HOST:PORT"),
                       ("  - {type: opensearch, hosts: ['http://elastic:s3cret@es1:92x0']}", "not a URL"),
                       ("  - {type: elasticsearch, api_key_file: /nonexistent/key}", "cannot read api key file"),
                       ("  - {type: elasticsearch, bearer_token_env: SHIPPER_TEST_UNSET_TOKEN}", "SHIPPER_TEST_UNSET_TOKEN")]:
        with pytest.raises(ConfigError) as e:
            parse_config(base + bad + "\n", "s.yaml")
        assert words in str(e.value) and "s.yaml:3" in str(e.value)
        assert "s3cret" not in str(e.value)


@pytest.mark.parametrize("url", ["http://127.0.0.1:9200", "https://es-2.Example:9243/a/b_c.d~e", "http://es1", "https://es1:",
                                 "http://es1:009200", "http://es%zz:9200", "http://es 1:9200", "http://es\x7f1:9200",
                                 "http://[::1]:9200", "http://[fe80::1%25eth0]:9200", "http://es1:9200/p%2",
                                 "http://ünï.example:9200", "http://u:p%zz@es1:9200", "http://es1:9200/?x=1#f",
                                 "HTTP://ES1:9200", "http://es1:9200//x/"])
def test_hosts_are_refused_where_the_client_refuses_them(url):
    """The config's hosts check takes a plain URL without asking the client's parser (elastic_transport's import
    is a third of a start); every URL is taken or refused as url_to_node_config, what the client uses, takes it."""
    from elastic_transport.client_utils import url_to_node_config

    try:
        url_to_node_config(url, use_default_ports_for_scheme=True)
        client_takes = True
    except ValueError:
        client_takes = False
    try:
        ElasticsearchOutputConfig(hosts=[url])
        config_takes = True
    except ValueError:
        config_takes = False
    assert config_takes == client_takes


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
        # each parser's known fields typed, the rest kept unindexed (plugins/outputs/elasticsearch_ingest_pipeline.py)
        assert mappings[ns]["type"] == "object" and mappings[ns]["dynamic"] is False, ns
    assert mappings["databricks"]["properties"]["request_params"] == {"type": "flattened"}
    index_tpl = tpl["/_index_template/shipper"]
    assert "logs-datameer.*-default" in index_tpl["index_patterns"] and index_tpl["data_stream"] == {}


@pytest.mark.parametrize("flavour,version,kind,flattened,data_streams", [
    ("es7", "7.17.25", "elasticsearch", {"type": "flattened"}, True),
    ("es8", "8.15.3", "elasticsearch", {"type": "flattened"}, True),
    ("es9", "9.1.5", "elasticsearch", {"type": "flattened"}, True),
    ("opensearch", "1.3.20", "opensearch", {"type": "object", "enabled": False}, True),
    ("opensearch", "2.19.1", "opensearch", {"type": "flat_object"}, True),
    ("opensearch", "3.2.0", "opensearch", {"type": "flat_object"}, True),
])
def test_setup_command_installs_templates_each_server_accepts(tmp_path, flavour, version, kind, flattened, data_streams):
    es = BulkServer(flavour=flavour, version=version).start()
    try:
        (tmp_path / "shipper.yaml").write_text(
            f"state_dir: state\nsources: [{{name: a, type: file, paths: [x], parser: json}}]\n"
            f"outputs: [{{type: {kind}, hosts: ['{es.url}'], namespace: prod, flattened_namespaces: [acme]}}]\n")
        r = subprocess.run([os.path.join(VENV_BIN, "shipper"), "setup", "elasticsearch", "-c", str(tmp_path / "shipper.yaml")],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        assert f"{'OpenSearch' if kind == 'opensearch' else 'Elasticsearch'} {version}" in r.stdout
        tpl = es.templates["shipper"]
        assert tpl["index_patterns"] == ["logs-acme.*-prod"] and tpl["priority"] == 200
        assert ("data_stream" in tpl) == data_streams
        mappings = es.component_templates["shipper-ecs@mappings"]["template"]["mappings"]["properties"]
        assert mappings["acme"] == flattened and mappings["@timestamp"] == {"type": "date"}
        assert es.component_templates["shipper@settings"]["template"]["settings"]["index"]["final_pipeline"] == \
            "shipper-enrich" and "geoip" in str(es.pipelines["shipper-enrich"])
        # Documents written afterwards land in a data stream the template matches (where the server has them).
        assert es.is_data_stream("logs-acme.audit-prod") == data_streams
        # The same templates for Elasticsearch 9 are refused by OpenSearch (flattened is not one of its types).
        if kind == "opensearch":
            status, body, _ = http(es.url + "/_component_template/t", templates(ElasticsearchOutputConfig())[
                "/_component_template/shipper-ecs@mappings"], method="PUT")
            assert status == 400 and body["error"]["type"] == "mapper_parsing_exception"
    finally:
        es.stop()


def test_setup_command_fails_clearly_when_unreachable(tmp_path):
    (tmp_path / "shipper.yaml").write_text(
        "sources: [{name: a, type: file, paths: [x], parser: json}]\n"
        "outputs: [{type: elasticsearch, hosts: ['http://127.0.0.1:9'], request_timeout: 5}]\n")
    r = subprocess.run([os.path.join(VENV_BIN, "shipper"), "setup", "elasticsearch", "-c", str(tmp_path / "shipper.yaml")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and "GET /" in r.stderr and "127.0.0.1:9" in r.stderr


@pytest.mark.parametrize("options", ["create", "copytruncate", "compress\n  delaycompress\n  create"])
def test_dead_letter_file_rotated_by_real_logrotate_loses_nothing(tmp_path, options):
    """The dead-letter file is opened by name for every write, so logrotate's rename (create) or
    copy-and-truncate (copytruncate) can rotate it under a running output (docs/operations.md)."""
    es = BulkServer().start()
    out = make_output(tmp_path, [es.url], name="es_rot")
    path = tmp_path / "dead_letter" / "es_rot.ndjson"
    conf = tmp_path / "lr.conf"
    conf.write_text(f"{path} {{\n  rotate 5\n  missingok\n  {options}\n}}\n")
    for round_ in range(3):
        es.reject_ids |= {f"id{round_ * 10 + 1}", f"id{round_ * 10 + 4}"}
        out.send(make_batch(6, start=round_ * 10))
        subprocess.run(["/usr/sbin/logrotate", "-f", "-s", str(tmp_path / "lr.state"), str(conf)], check=True, timeout=60)
    out.close()
    es.stop()
    ids = []
    for f in sorted(path.parent.iterdir()):
        data = gzip.decompress(f.read_bytes()) if f.suffix == ".gz" else f.read_bytes()
        ids += [json.loads(line)["_id"] for line in data.splitlines()]
        if f.suffix != ".gz":
            assert oct(f.stat().st_mode & 0o777) == "0o600", f  # personal data stays private after rotation
    assert sorted(ids) == sorted(f"id{r * 10 + k}" for r in range(3) for k in (1, 4))


# Each flavour refuses what its real server refuses (docs/research/real-servers.md)

VND = "application/vnd.elasticsearch+{}; compatible-with={}"


@pytest.mark.parametrize("flavour,accepted,refused", [
    ("es7", [7], [8, 9]),
    ("es8", [7, 8], [9]),
    ("es9", [8, 9], [7]),
    ("opensearch", [], [7, 8, 9]),
])
def test_peer_flavours_refuse_the_media_types_their_servers_refuse(flavour, accepted, refused):
    es = BulkServer(flavour=flavour).start()
    try:
        status, root, headers = http(es.url + "/", method="GET", headers={"Accept": "application/json"})
        assert status == 200 and root["version"]["number"] == es.flavour.number
        assert (root["version"].get("distribution") == "opensearch") == (flavour == "opensearch")
        assert ("X-Elastic-Product" in headers) == (flavour != "opensearch")
        bulk = b'{"create":{"_index":"logs-a-default","_id":"1"}}\n{"@timestamp":"2024-01-01T00:00:00Z"}\n'
        for v in accepted:
            status, body, _ = http(es.url + "/_bulk", bulk, headers={"Content-Type": VND.format("x-ndjson", v),
                                                                     "Accept": VND.format("json", v)})
            assert status == 200, (v, body)
        for v in refused:
            status, body, _ = http(es.url + "/_bulk", bulk, headers={"Content-Type": VND.format("x-ndjson", v),
                                                                     "Accept": VND.format("json", v)})
            if flavour == "opensearch":
                assert status == 406 and "is not supported" in body["error"], body
            else:
                assert status == 400 and body["error"]["type"] == "media_type_header_exception", body
                assert f"but found {v}" in body["error"]["caused_by"]["reason"]
        # Plain JSON / NDJSON works everywhere.
        status, body, _ = http(es.url + "/_bulk", bulk, headers={"Content-Type": "application/x-ndjson",
                                                                 "Accept": "application/json"})
        assert status == 200 and not body["errors"] or body["items"][0]["create"]["status"] == 409
    finally:
        es.stop()


@pytest.mark.parametrize("flavour", ["es8", "opensearch"])
def test_the_official_client_9_is_refused_by_es8_and_opensearch_peers(flavour):
    """What issue 12 found with real servers, shown with the real elasticsearch-py 9 against the peers."""
    from elasticsearch import ApiError, Elasticsearch, UnsupportedProductError

    es = BulkServer(flavour=flavour).start()
    try:
        client = Elasticsearch(es.url, request_timeout=10)
        with pytest.raises((ApiError, UnsupportedProductError)) as e:
            client.bulk(operations=[{"create": {"_index": "logs-a-default", "_id": "1"}},
                                    {"@timestamp": "2024-01-01T00:00:00Z"}])
        if flavour == "es8":
            assert e.value.meta.status == 400 and "media_type_header_exception" in str(e.value)
        else:
            assert isinstance(e.value, UnsupportedProductError) or e.value.meta.status == 406
        client.close()
        assert es.docs == {}
    finally:
        es.stop()


# Permanent refusals and what goes to the dead letter

@pytest.mark.parametrize("status,answer,ctype,words", [
    (400, {"error": {"type": "media_type_header_exception", "reason": "Invalid media-type value on headers [Accept, Content-Type]"},
           "status": 400}, "application/json", "media type refused"),
    (406, {"error": "Content-Type header [application/x-ndjson] is not supported", "status": 406}, "application/json",
     "media type refused"),
    (403, {"error": {"type": "security_exception", "reason": "action [indices:data/write/bulk] is unauthorized"},
           "status": 403}, "application/json", "403 not allowed"),
    (404, "<html><body>404 Not Found</body></html>", "text/html", "404 refused"),
])
def test_refusals_of_the_bulk_request_are_permanent_and_named(es, tmp_path, status, answer, ctype, words):
    es.answer_with["/_bulk"] = (status, answer, ctype)
    out = make_output(tmp_path, [es.url], name="es_refused")
    t0 = time.monotonic()
    with pytest.raises(PermanentRefusal) as e:
        out.send(make_batch(3))
    assert words in str(e.value) and "POST /_bulk" in str(e.value)
    assert es.bulk_requests == 0 and es.docs == {}
    assert time.monotonic() - t0 < 60, "raised to the core, not retried inside the output"
    del es.answer_with["/_bulk"]
    out.send(make_batch(3))  # the refusal fixed: delivered on the next try
    assert len(es.docs) == 3
    out.close()


@pytest.mark.parametrize("status,answer,ctype", [
    (429, {"error": {"type": "es_rejected_execution_exception", "reason": "rejected"}, "status": 429}, "application/json"),
    (502, "<html><body>502 Bad Gateway</body></html>", "text/html"),
])
def test_outage_answers_to_the_bulk_request_are_retried_inside(es, tmp_path, status, answer, ctype):
    es.answer_with["/_bulk"] = (status, answer, ctype)
    out = make_output(tmp_path, [es.url], name="es_outage")
    t = threading.Thread(target=out.send, args=(make_batch(3),))
    t.start()
    assert wait(lambda: es.requests >= 4), "retried with backoff"
    assert t.is_alive() and f"answered {status}" in out.trouble, "/health shows what delivery waits for"
    del es.answer_with["/_bulk"]
    t.join(60)
    assert not t.is_alive() and len(es.docs) == 3 and out.trouble is None
    out.close()


def test_one_document_too_large_for_a_proxy_goes_to_the_dead_letter(es, tmp_path):
    es.max_body = 4000
    out = make_output(tmp_path, [es.url], name="es_413", compress=False)
    batch = make_batch(8)
    batch.events[5]["message"] = "x" * 5000  # larger than the proxy's limit even alone
    out.send(batch)  # returns: acked, nothing retried forever
    assert sorted(es.ids()) == sorted(f"id{i}" for i in range(8) if i != 5)
    lines = [json.loads(l) for l in (tmp_path / "dead_letter" / "es_413.ndjson").read_text().splitlines()]
    assert [(l["_id"], l["status"]) for l in lines] == [("id5", 413)]
    assert lines[0]["error"]["type"] == "request_entity_too_large" and lines[0]["event"]["message"] == "x" * 5000
    out.close()


@pytest.mark.parametrize("status,root", [(200, {"name": "something else", "tagline": "hello"}),
                                         (404, "<html>not here</html>")])
def test_a_root_that_does_not_say_what_it_is_leaves_the_judgement_to_the_bulk_request(es, tmp_path, caplog, status,
                                                                                       root):
    es.answer_with["/"] = (status, root, "application/json" if isinstance(root, dict) else "text/html")
    out = make_output(tmp_path, [es.url], name="es_other")
    with caplog.at_level(logging.WARNING, logger="shipper.output.elasticsearch"):
        out.send(make_batch(2))
    assert len(es.docs) == 2 and out.server is None
    assert any("cannot tell which server" in r.getMessage() for r in caplog.records)
    # Something that is no search server at all refuses the bulk request, named.
    es.answer_with["/_bulk"] = (405, "<html>Method Not Allowed</html>", "text/html")
    with pytest.raises(PermanentRefusal, match="POST /_bulk: 405"):
        out.send(make_batch(2, start=2))
    out.close()


def test_get_root_forbidden_still_ships(es, tmp_path, caplog):
    """An API key limited to writing may not read the version (no `monitor`): ship anyway, say so once."""
    es.answer_with["/"] = (403, {"error": {"type": "security_exception", "reason": "unauthorized"}, "status": 403},
                           "application/json")
    out = make_output(tmp_path, [es.url], name="es_nomonitor")
    with caplog.at_level(logging.WARNING, logger="shipper.output.elasticsearch"):
        out.send(make_batch(2))
        out.send(make_batch(2, start=2))
    assert len(es.docs) == 4 and out.server is None
    assert sum("cannot tell which server" in r.getMessage() and "403" in str(r.__dict__.get("error"))
               for r in caplog.records) == 1
    out.close()


# `probe()` for `shipper check --outputs`

def test_probe_says_what_it_found(es, tmp_path):
    (tmp_path / "pw").write_text("s3cret")
    es.require_auth = "Basic dXNlcjpzM2NyZXQ="
    out = make_output(tmp_path, [es.url], name="es_probe", username="user", password_file=str(tmp_path / "pw"))
    found = out.probe()
    product = "OpenSearch" if es.flavour.opensearch else "Elasticsearch"
    assert found["server"] == f"{product} {es.flavour.number}"
    assert found["auth"] == "basic (user user), accepted" and found["tls"] == "none (http)"
    assert "missing" in found["template"]
    assert found["data_streams"].startswith("no" if es.flavour.opensearch else "yes")  # no built-in template
    for path, body in templates(out.config, out.server).items():
        assert http(es.url + path, body, method="PUT", headers={"Content-Type": "application/json",
                                                               "Authorization": es.require_auth})[0] == 200
    found = out.probe()
    assert found["template"] == "shipper installed" and found["data_streams"] == "yes"
    assert "s3cret" not in json.dumps(found)
    es.answer_with["/_index_template/shipper"] = (403, {"error": {"type": "security_exception", "reason": "no"},
                                                        "status": 403}, "application/json")
    assert out.probe()["template"].startswith("unknown: these credentials may not read index templates")
    es.require_auth = "Basic other"
    del es.answer_with["/_index_template/shipper"]
    with pytest.raises(PermanentRefusal, match="401"):
        out.probe()
    out.close()


def test_probe_raises_when_unreachable(tmp_path):
    out = make_output(tmp_path, ["http://127.0.0.1:9"], name="es_probe_down")
    with pytest.raises(ConnectionError) as e:
        out.probe()
    assert "127.0.0.1:9" in str(e.value) and "Connection refused" in str(e.value)
    out.close()


# `type: opensearch`

def test_type_opensearch_is_the_same_output_with_its_own_defaults(tmp_path):
    from shipper import registry

    base = "sources: [{name: a, type: file, paths: [x], parser: json}]\noutputs:\n"
    config = parse_config(base + "  - {type: opensearch}\n", "s.yaml")
    cfg = config.outputs[0]
    assert cfg.type == "opensearch" and cfg.hosts == ["https://127.0.0.1:9200"] and cfg.name == "opensearch"
    cls = registry.load("output", "opensearch")
    assert issubclass(cls, ElasticsearchOutput)
    with pytest.raises(ConfigError) as e:
        parse_config(base + "  - {type: opensearch, namespace: Bad-1}\n", "s.yaml")
    assert "s.yaml:3" in str(e.value) and "namespace" in str(e.value)
    es = BulkServer(flavour="opensearch").start()
    try:
        out = cls(cls.Config(hosts=[es.url]), OutputContext("os", threading.Event(), str(tmp_path)))
        out.send(make_batch(3))
        assert len(es.docs) == 3 and out.server.flavour == "opensearch"
        assert out.describe().startswith("opensearch ")
        out.close()
    finally:
        es.stop()



def test_setup_print_for_a_named_server_without_asking_one(tmp_path):
    (tmp_path / "shipper.yaml").write_text(
        "sources: [{name: a, type: file, paths: [x], parser: json}]\n"
        "outputs: [{type: opensearch, hosts: ['http://127.0.0.1:9'], flattened_namespaces: [acme]}]\n")
    shipper = os.path.join(VENV_BIN, "shipper")
    r = subprocess.run([shipper, "setup", "elasticsearch", "-c", str(tmp_path / "shipper.yaml"), "--print",
                        "--server", "opensearch:1.3.20"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    printed = json.loads(r.stdout)
    assert printed["/_index_template/shipper"]["data_stream"] == {}  # OpenSearch has them since 1.0
    props = printed["/_component_template/shipper-ecs@mappings"]["template"]["mappings"]["properties"]
    assert props["acme"] == {"type": "object", "enabled": False}
    assert props["user"]["properties"]["name"]["fields"]["text"] == {"type": "text"}
    r = subprocess.run([shipper, "setup", "elasticsearch", "-c", str(tmp_path / "shipper.yaml"), "--print",
                        "--server", "solr:9"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "--server" in r.stderr


@pytest.mark.parametrize("status", [403, 404])
def test_an_item_refused_for_its_index_is_a_refusal_not_a_dead_letter(es, tmp_path, status):
    """No privilege on the index (403) or auto_create_index false (404 index_not_found): every document
    for that index would follow into the dead letter, so the batch is not acked and the core is told."""
    es.item_status["id3"] = [status]
    out = make_output(tmp_path, [es.url], name=f"es_item_{status}")
    with pytest.raises(PermanentRefusal) as e:
        out.send(make_batch(6))
    assert f"{status}" in str(e.value) and "logs-datameer.audit-default" in str(e.value)
    assert not (tmp_path / "dead_letter").exists()
    out.send(make_batch(6))  # fixed: sent again, what was stored answers 409
    assert sorted(es.ids()) == sorted(f"id{i}" for i in range(6)) and es.conflicts == 5
    out.close()


# What the server says about itself: any answer is read or refused by name, never a crash

from hypothesis import given, settings, strategies as st  # noqa: E402

from shipper_plugins.outputs.elasticsearch_client import error_reason  # noqa: E402
from shipper_plugins.outputs.elasticsearch_server import NotASearchServer, server_of  # noqa: E402

JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
                    max_leaves=20)
ROOTS = st.fixed_dictionaries({"version": st.fixed_dictionaries(
    {"number": st.text(alphabet="0123456789.-abcSNAPSHOT", min_size=1, max_size=16)},
    optional={"distribution": st.sampled_from(["opensearch", "elasticsearch", "x"]) | st.text(max_size=5)})}) | JSON


@settings(max_examples=300, deadline=None)
@given(ROOTS)
def test_any_root_answer_is_a_server_or_named_refused(root):
    try:
        server = server_of(root)
    except NotASearchServer as e:
        assert "version number" in str(e)
        return
    assert server.flavour == ("opensearch" if root["version"].get("distribution") == "opensearch" else "elasticsearch")
    assert len(server.version) == 3 and all(isinstance(x, int) for x in server.version)
    assert server.name.endswith(root["version"]["number"])
    assert server.mapping_type("flattened")["type"] in ("flattened", "flat_object", "object")


@settings(max_examples=300, deadline=None)
@given(JSON)
def test_any_error_answer_gives_a_short_reason(body):
    reason = error_reason(body)
    assert isinstance(reason, str) and len(reason) <= 600


def test_tls_to_a_plain_http_server_is_refused_but_a_cut_handshake_is_retried(tmp_path):
    import socket

    plain = BulkServer().start()
    try:
        out = make_output(tmp_path, [plain.url.replace("http://", "https://")], name="es_tls_plain")
        with pytest.raises(PermanentRefusal) as e:
            out.send(make_batch(1))
        assert "TLS" in str(e.value)
        out.close()
    finally:
        plain.stop()
    # A listener that accepts and closes at once (a restarting node behind a balancer): an outage.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    port = listener.getsockname()[1]
    closing = threading.Event()

    def accept_and_close():
        while not closing.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            conn.close()

    threading.Thread(target=accept_and_close, daemon=True).start()
    stop = threading.Event()
    out = make_output(tmp_path, [f"https://127.0.0.1:{port}"], stop=stop, name="es_tls_cut")
    try:
        threading.Timer(1.5, stop.set).start()
        with pytest.raises(Stopping):  # retried inside until the stop, never a PermanentRefusal
            out.send(make_batch(1))
        assert out.trouble
    finally:
        closing.set()
        listener.close()
        out.close()


def test_setup_when_the_server_does_not_say_what_it_is(tmp_path):
    es = BulkServer(flavour="opensearch", version="1.3.20").start()
    es.answer_with["/"] = (403, {"error": {"type": "security_exception", "reason": "no monitor"}, "status": 403},
                           "application/json")
    try:
        (tmp_path / "shipper.yaml").write_text(
            "sources: [{name: a, type: file, paths: [x], parser: json}]\n"
            f"outputs: [{{type: opensearch, hosts: ['{es.url}'], flattened_namespaces: [acme]}}]\n")
        r = subprocess.run([os.path.join(VENV_BIN, "shipper"), "setup", "elasticsearch", "-c", str(tmp_path / "shipper.yaml")],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        assert "did not say what it is" in r.stderr and "OpenSearch 1.0.0 or later" in r.stderr
        mappings = es.component_templates["shipper-ecs@mappings"]["template"]["mappings"]["properties"]
        assert mappings["acme"] == {"type": "object", "enabled": False}  # accepted by the 1.3 peer
    finally:
        es.stop()


def test_a_password_in_a_host_url_is_used_and_never_shown(tmp_path):
    es = BulkServer(flavour="es8").start()
    es.require_auth = "Basic ZWxhc3RpYzpDaDRuZ2VNZQ=="  # elastic:Ch4ngeMe
    try:
        url = es.url.replace("http://", "http://elastic:Ch4ngeMe@")
        out = make_output(tmp_path, [url], name="es_url_pw")
        out.send(make_batch(2))
        assert len(es.docs) == 2 and out.probe()["auth"] == "basic (user in the host URL), accepted"
        out.close()
        (tmp_path / "shipper.yaml").write_text(
            "sources: [{name: a, type: file, paths: [x], parser: json}]\n"
            f"outputs: [{{type: elasticsearch, hosts: ['{url.replace('Ch4ngeMe', 'Wr0ngPw')}']}}]\n")
        r = subprocess.run([os.path.join(VENV_BIN, "shipper"), "setup", "elasticsearch", "-c", str(tmp_path / "shipper.yaml")],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 1 and "401" in r.stderr and "Wr0ngPw" not in r.stdout + r.stderr, r.stderr
    finally:
        es.stop()


def test_a_ca_file_that_cannot_be_read_is_a_refusal_naming_it(tmp_path):
    import ssl

    import trustme

    ca = trustme.CA()
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(ctx)
    es = BulkServer(ssl_context=ctx, flavour="opensearch").start()
    try:
        out = make_output(tmp_path, [es.url], name="es_no_ca", ca_file=str(tmp_path / "missing-ca.pem"))
        with pytest.raises(PermanentRefusal) as e:
            out.send(make_batch(1))
        assert "cannot load the CA file: No such file or directory" in str(e.value)
        out.close()
    finally:
        es.stop()


def test_index_names_of_many_datasets_are_right_and_not_all_kept():
    """event.dataset comes from the events (a parser may pass a log's own on): 20,000 distinct ones are
    each named right, and the names are not all kept (the output's memo of them is bounded)."""
    import gc
    import tracemalloc

    from shipper_plugins.outputs.elasticsearch import IndexNamer

    namer = IndexNamer(ElasticsearchOutputConfig(namespace="prod"))
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(20_000):
            ds = f"Feed.{i:06d}." + "x" * 80
            assert namer({"event": {"dataset": ds}}) == f"logs-feed.{i:06d}.{'x' * 80}-prod"
        gc.collect()
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert kept < 1_500_000, kept  # ~7 MB if every name were kept
    assert namer({"event": {"dataset": "a.b"}}) == namer({"event": {"dataset": "A.B"}}) == "logs-a.b-prod"
