"""End to end into Elasticsearch and OpenSearch: `shipper setup elasticsearch`, then `shipper run` (a
real subprocess) tailing a file.

1. Against the strict peer in each flavour (Elasticsearch 7.17, 8, 9, OpenSearch): the peer dies and
   comes back answering 503, documents are answered 429 once or 400 for good, the agent is killed
   with SIGKILL and restarted: every event is stored exactly once, the rejected ones are in the
   dead-letter file, and the peer never saw a media type it refuses.
2. Against the two independent reimplementations on PyPI (README: what each is and is not):
   `osmem-server` (presents OpenSearch 3.8) and `noida-db` (presents Elasticsearch 8.15), started
   here on a free loopback port: `run --once` ships into a plain index (neither has data streams),
   the documents are read back with `_search`, and a replay after the state is lost stores nothing
   twice (409s).
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path

import orjson
import pytest

from tests.peers.bulk_server import BulkServer
from tests.support import free_port, stop_process, wait

pytestmark = pytest.mark.slow

VENV_BIN = os.path.dirname(sys.executable)
SHIPPER = os.path.join(VENV_BIN, "shipper")


def write_lines(path, start: int, n: int) -> None:
    with open(path, "ab") as f:
        for i in range(start, start + n, 100):  # written in pieces, as a live log grows
            f.write(b"".join(orjson.dumps({"@timestamp": "2024-05-01T12:00:00Z", "n": k, "user": f"u{k}"}) + b"\n"
                             for k in range(i, min(i + 100, start + n))))
            f.flush()


def setup_command(cfg: Path) -> subprocess.CompletedProcess:
    return subprocess.run([SHIPPER, "setup", "elasticsearch", "-c", str(cfg)], capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize("flavour", ["es7", "es8", "es9", "opensearch"])
def test_every_event_once_through_outages_and_a_killed_agent(tmp_path, flavour):
    log_file = tmp_path / "audit.log"
    es = BulkServer(flavour=flavour).start()
    es.reject_when = lambda doc: doc.get("generic", {}).get("n", 1) % 97 == 0  # a "mapping error"
    es.transient_when = lambda doc: 429 if doc.get("generic", {}).get("n", 1) % 13 == 0 else None
    kind = "opensearch" if flavour == "opensearch" else "elasticsearch"
    cfg = tmp_path / "shipper.yaml"
    cfg.write_text(f"""
state_dir: state
shutdown_timeout: 5
sources:
  - {{name: audit, type: file, paths: ['{log_file}'], parser: json, poll_interval: 0.2}}
outputs:
  - {{type: {kind}, hosts: ['{es.url}'], backoff_base: 0.05, backoff_max: 0.5, flush_interval: 0.2,
      batch_size: 200, request_timeout: 5}}
""")
    r = setup_command(cfg)
    assert r.returncode == 0, r.stderr
    assert es.is_data_stream("logs-generic.json-default"), "the template makes a data stream on every flavour"
    agent_log = open(tmp_path / "agent.log", "wb")
    total = 2000
    write_lines(log_file, 0, 800)
    agent = subprocess.Popen([SHIPPER, "run", "-c", str(cfg)], stdout=subprocess.DEVNULL, stderr=agent_log)
    try:
        assert wait(lambda: len(es.docs) >= 200, 120), "shipping started"
        es.stop()
        write_lines(log_file, 800, 600)
        time.sleep(1.0)
        es.fail_requests(2, 503)
        es.start()
        assert wait(lambda: len(es.docs) >= 900, 120)
        write_lines(log_file, 1400, 600)
        agent.send_signal(signal.SIGKILL)  # no chance to save anything, batches in flight
        agent.wait(30)
        agent = subprocess.Popen([SHIPPER, "run", "-c", str(cfg)], stdout=subprocess.DEVNULL, stderr=agent_log)
        expected = [n for n in range(total) if n % 97]
        assert wait(lambda: len(es.docs) >= len(expected), 180), len(es.docs)
        time.sleep(1.0)  # anything still in flight would show up as a duplicate now
    finally:
        stop_process(agent, 60)
        es.stop()
        agent_log.close()

    ns = Counter(doc["generic"]["n"] for doc in es.docs.values())
    assert sorted(ns) == expected and max(ns.values()) == 1, "every event exactly once"
    assert {idx for idx, _ in es.docs} == {"logs-generic.json-default"}
    assert all(es.item_attempts[doc_id] >= 2 for (_, doc_id), doc in es.docs.items() if doc["generic"]["n"] % 13 == 0)
    dead = [json.loads(l) for l in (tmp_path / "state" / "dead_letter" / kind).with_suffix(".ndjson").read_text().splitlines()]
    assert {d["event"]["generic"]["n"] for d in dead} == {n for n in range(total) if n % 97 == 0}
    assert es.errors == [] and es.media_type_refusals == 0
    assert b"Traceback" not in (tmp_path / "agent.log").read_bytes()


# The independent reimplementations from PyPI

def get(url: str, method: str = "GET"):
    req = urllib.request.Request(url, method=method, headers={"Accept": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def answers(url: str) -> bool:
    try:
        get(url + "/")
        return True
    except OSError:
        return False


@pytest.fixture
def osmem(tmp_path):
    from osmem_server import OsmemServer

    server = OsmemServer.start(addr="127.0.0.1:0", japanese=False)  # port 0: it picks a free one
    try:
        yield server.url, "opensearch"
    finally:
        server.close()


@pytest.fixture
def noida(tmp_path):
    port = free_port()
    proc = subprocess.Popen([os.path.join(VENV_BIN, "noida-db"), "start", "--data-dir", str(tmp_path / "noida"),
                             "--host", "127.0.0.1", "--only", "elasticsearch", "--elasticsearch-port", str(port)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        assert wait(lambda: answers(url), 60), "noida-db did not start"
        yield url, "elasticsearch"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # its own session: the launcher and the server it runs
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(30)


@pytest.mark.parametrize("server,presents", [("osmem", "OpenSearch 3.8"), ("noida", "Elasticsearch 8.15")])
def test_ship_and_read_back_from_an_independent_reimplementation(tmp_path, request, server, presents):
    url, kind = request.getfixturevalue(server)
    log_file = tmp_path / "audit.log"
    write_lines(log_file, 0, 500)
    cfg = tmp_path / "shipper.yaml"
    cfg.write_text(f"""
state_dir: {tmp_path / 'state'}
sources:
  - {{name: audit, type: file, paths: ['{log_file}'], parser: json}}
outputs:
  - {{type: {kind}, hosts: ['{url}'], batch_size: 100, request_timeout: 10, compress: true,
      index: 'audit-{{dataset}}-{{yyyy}}.{{MM}}'}}
""")  # neither has data streams (it takes the template and answers 400 to every document): plain indices
    r = setup_command(cfg)
    assert r.returncode == 0, r.stderr
    assert presents in r.stdout
    index = "audit-generic.json-2024.05"

    def stored() -> list[dict]:
        get(f"{url}/{index}/_refresh", "POST")
        hits = get(f"{url}/{index}/_search?size=2000")["hits"]["hits"]
        return hits

    r = subprocess.run([SHIPPER, "run", "--once", "-c", str(cfg)], capture_output=True, timeout=300)
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    hits = stored()
    assert sorted(h["_source"]["generic"]["n"] for h in hits) == list(range(500))
    assert len({h["_id"] for h in hits}) == 500
    assert all(h["_source"]["generic"]["user"] == f"u{h['_source']['generic']['n']}" for h in hits)
    # The state is lost: everything is sent again and answered 409, nothing stored twice.
    subprocess.run(["rm", "-rf", str(tmp_path / "state")], check=True)
    write_lines(log_file, 500, 100)
    r = subprocess.run([SHIPPER, "run", "--once", "-c", str(cfg)], capture_output=True, timeout=300)
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    hits = stored()
    assert sorted(h["_source"]["generic"]["n"] for h in hits) == list(range(600))
    assert not (tmp_path / "state" / "dead_letter").exists() or not any((tmp_path / "state" / "dead_letter").iterdir())


# `run --once` against refusals: it ends, names the refusal, advances nothing

@pytest.mark.parametrize("flavour", ["es8", "opensearch"])
def test_once_refused_credentials_end_it_naming_why_and_nothing_advances(tmp_path, flavour):
    log_file = tmp_path / "audit.log"
    write_lines(log_file, 0, 300)
    es = BulkServer(flavour=flavour).start()
    es.require_auth = "Bearer right-token"
    (tmp_path / "token").write_text("wrong-token\n")
    cfg = tmp_path / "shipper.yaml"
    cfg.write_text(f"""
state_dir: {tmp_path / 'state'}
sources:
  - {{name: audit, type: file, paths: ['{log_file}'], parser: json}}
outputs:
  - {{type: elasticsearch, hosts: ['{es.url}'], bearer_token_file: '{tmp_path / 'token'}', request_timeout: 5}}
""")
    try:
        t0 = time.monotonic()
        r = subprocess.run([SHIPPER, "run", "--once", "--timeout", "120", "-c", str(cfg)], capture_output=True,
                           text=True, timeout=300)
        assert r.returncode == 1, r.stderr[-2000:]
        assert "401 credentials refused" in r.stderr and "wrong-token" not in r.stderr
        assert time.monotonic() - t0 < 110, "a refusal ends --once early, not at its timeout"
        assert es.docs == {}
        (tmp_path / "token").write_text("right-token\n")
        r = subprocess.run([SHIPPER, "run", "--once", "-c", str(cfg)], capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr[-2000:]
        ns = Counter(doc["generic"]["n"] for doc in es.docs.values())
        assert sorted(ns) == list(range(300)) and max(ns.values()) == 1, "nothing was advanced by the refused run"
    finally:
        es.stop()


def test_once_a_document_too_large_for_a_proxy_is_dead_lettered_and_the_rest_stored(tmp_path):
    log_file = tmp_path / "audit.log"
    write_lines(log_file, 0, 100)
    with open(log_file, "ab") as f:
        f.write(orjson.dumps({"@timestamp": "2024-05-01T12:00:00Z", "n": 100, "blob": "x" * 20000}) + b"\n")
    write_lines(log_file, 101, 100)
    es = BulkServer(flavour="es9").start()
    es.max_body = 16000  # a proxy's client_max_body_size
    cfg = tmp_path / "shipper.yaml"
    cfg.write_text(f"""
state_dir: {tmp_path / 'state'}
sources:
  - {{name: audit, type: file, paths: ['{log_file}'], parser: json}}
outputs:
  - {{type: elasticsearch, hosts: ['{es.url}'], compress: false, request_timeout: 5}}
""")
    try:
        r = subprocess.run([SHIPPER, "run", "--once", "--timeout", "120", "-c", str(cfg)], capture_output=True,
                           text=True, timeout=300)
        assert r.returncode == 0, r.stderr[-2000:]
        assert sorted(doc["generic"]["n"] for doc in es.docs.values()) == [n for n in range(201) if n != 100]
        dead = [json.loads(l) for l in (tmp_path / "state" / "dead_letter" / "elasticsearch.ndjson").read_text().splitlines()]
        assert [(d["event"]["generic"]["n"], d["status"]) for d in dead] == [(100, 413)]
        assert "dead-letter" in r.stderr
    finally:
        es.stop()


def request_(url: str, method: str, body: bytes | None, ctype: str, accept: str = "application/json"):
    req = urllib.request.Request(url, data=body, method=method, headers={"Content-Type": ctype, "Accept": accept})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


@pytest.mark.parametrize("server", ["osmem", "noida"])
def test_what_the_reimplementations_are_and_are_not(request, server):
    """The README's account of each, checked: the product header, media types, data streams."""
    url, kind = request.getfixturevalue(server)
    _, headers, _ = request_(url + "/", "GET", None, "application/json")
    # Both send X-Elastic-Product (real OpenSearch does not: osmem differs there).
    assert headers.get("X-Elastic-Product") == "Elasticsearch"
    bulk = b'{"create":{"_index":"probe-a","_id":"1"}}\n{"@timestamp":"2024-01-01T00:00:00Z"}\n'
    status, _, _ = request_(url + "/_bulk", "POST", bulk, "application/vnd.elasticsearch+x-ndjson; compatible-with=9",
                            "application/vnd.elasticsearch+json; compatible-with=9")
    # osmem refuses it as OpenSearch does; noida takes it where Elasticsearch 8 answers 400.
    assert status == (406 if server == "osmem" else 200)
    # No data streams: a data_stream template is taken, writes into it are not stored as one.
    tpl = json.dumps({"index_patterns": ["dsprobe-*"], "data_stream": {}, "priority": 300}).encode()
    assert request_(url + "/_index_template/dsprobe", "PUT", tpl, "application/json")[0] == 200
    doc = b'{"create":{"_index":"dsprobe-a","_id":"1"}}\n{"@timestamp":"2024-01-01T00:00:00Z"}\n'
    status, _, body = request_(url + "/_bulk", "POST", doc, "application/x-ndjson")
    item = json.loads(body)["items"][0]["create"]
    data_streams = request_(url + "/_data_stream/dsprobe-a", "GET", None, "application/json")[0]
    assert item["status"] >= 400 or data_streams != 200, "neither has data streams"


def health(url: str):
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())
    except OSError:
        return 0, {}


@pytest.mark.parametrize("flavour", ["es8", "opensearch"])
def test_daemon_refused_shows_it_once_then_a_reload_with_the_right_key_delivers_once(tmp_path, flavour):
    log_file = tmp_path / "audit.log"
    write_lines(log_file, 0, 50)
    es = BulkServer(flavour=flavour).start()
    es.require_auth = "ApiKey cmlnaHQta2V5"
    (tmp_path / "key").write_text("d3Jvbmcta2V5\n")
    (tmp_path / "right").write_text("cmlnaHQta2V5\n")
    port = free_port()
    cfg = tmp_path / "shipper.yaml"
    cfg.write_text(f"""
state_dir: {tmp_path / 'state'}
http: {{listen: "127.0.0.1:{port}"}}
sources:
  - {{name: audit, type: file, paths: ['{log_file}'], parser: json, poll_interval: 0.2}}
outputs:
  - {{type: elasticsearch, hosts: ['{es.url}'], api_key_file: '{tmp_path / 'key'}', request_timeout: 5,
      flush_interval: 0.2}}
""")
    agent_log = open(tmp_path / "agent.log", "wb")
    agent = subprocess.Popen([SHIPPER, "run", "-c", str(cfg)], stdout=subprocess.DEVNULL, stderr=agent_log)
    url = f"http://127.0.0.1:{port}/health"
    try:
        assert wait(lambda: "401 credentials refused" in (
            health(url)[1].get("outputs", {}).get("elasticsearch", {}).get("last_error") or ""), 60), health(url)
        code, doc = health(url)
        assert code == 503 and doc["outputs"]["elasticsearch"]["healthy"] is False
        st = subprocess.run([SHIPPER, "status", "-c", str(cfg)], capture_output=True, timeout=60).stdout.decode()
        assert "401 credentials refused" in st, st
        assert es.docs == {}
        cfg.write_text(cfg.read_text().replace(str(tmp_path / "key"), str(tmp_path / "right")))
        agent.send_signal(signal.SIGHUP)
        assert wait(lambda: len(es.docs) >= 50, 60), len(es.docs)
        assert wait(lambda: health(url)[0] == 200, 30), health(url)
    finally:
        stop_process(agent, 60)
        agent_log.close()
        es.stop()
    ns = Counter(doc["generic"]["n"] for doc in es.docs.values())
    assert sorted(ns) == list(range(50)) and max(ns.values()) == 1
    text = (tmp_path / "agent.log").read_text()
    assert text.count("output refused by the server") == 1, text
    assert "d3Jvbmcta2V5" not in text and "cmlnaHQta2V5" not in text
