"""Several hosts, one of them misconfigured (it answers 401 to everything, as a node behind a proxy with
other credentials would) while the other takes documents: shipper stops delivering to all of them."""
from __future__ import annotations

import pytest

from tests.hostile_es import HostileES, config, run_once


@pytest.mark.xfail(strict=True, reason="one node's 401 is taken as a refusal of the whole output: the pool's "
                                       "healthy node gets nothing and --once ends at once, nothing delivered")
def test_one_node_refusing_credentials_does_not_stop_the_healthy_one(tmp_path):
    refusing = HostileES(bulk=lambda srv, actions: (401, {}, b'{"status":401,"error":{"type":"security_exception",'
                                                            b'"reason":"unable to authenticate"}}'))
    healthy = HostileES()
    try:
        r = run_once(config(tmp_path, [refusing.url, healthy.url], n=200, extra=", batch_size: 10"), timeout=30)
    finally:
        refusing.stop()
        healthy.stop()
    assert healthy.ns() == list(range(200)), r.stderr
    assert r.returncode == 0
