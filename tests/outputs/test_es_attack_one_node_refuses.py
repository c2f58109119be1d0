"""Several hosts, one of them misconfigured (it answers 401 to everything, as a node behind a proxy with
other credentials would) while the other takes documents: the healthy node gets every document. Before,
the first node's 401 was taken as a refusal of the whole output and nothing was delivered. When every
node refuses, it is still a refusal: --once ends at once with exit 1."""
from __future__ import annotations

from tests.hostile_es import HostileES, config, run_once


def refusing_everything() -> HostileES:
    es = HostileES()
    es.password = "a password shipper was not given"  # 401 to GET / and to _bulk
    return es


def test_one_node_refusing_credentials_does_not_stop_the_healthy_one(tmp_path):
    refusing, healthy = refusing_everything(), HostileES()
    try:
        r = run_once(config(tmp_path, [refusing.url, healthy.url], n=200, extra=", batch_size: 10"), timeout=30)
    finally:
        refusing.stop()
        healthy.stop()
    assert healthy.ns() == list(range(200)), r.stderr
    assert r.returncode == 0, r.stderr


def test_every_node_refusing_is_still_a_refusal(tmp_path):
    a, b = refusing_everything(), refusing_everything()
    try:
        r = run_once(config(tmp_path, [a.url, b.url], n=20), timeout=50)
    finally:
        a.stop()
        b.stop()
    assert r.returncode == 1
    assert "401 credentials refused" in r.stderr
    assert "run --once: refused by output es" in r.stderr and "timeout after" not in r.stderr, r.stderr
