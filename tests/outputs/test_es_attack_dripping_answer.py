"""A bulk answer that drips (headers, then a byte a second, never complete) must not hold delivery
forever: `request_timeout` bounds the request, the batch is sent again and the agent goes on."""
from __future__ import annotations

import subprocess

import pytest

from tests.hostile_es import SHIPPER, HostileES, config
from tests.support import stop_process, wait


@pytest.mark.parametrize("drip", ["drip", "drip_headers"], ids=["body", "headers"])
def test_a_dripping_bulk_answer_is_cut_at_request_timeout_and_sent_again(tmp_path, drip):
    calls = {"n": 0}

    def bulk(srv, actions):
        calls["n"] += 1
        return drip if calls["n"] == 1 else None

    es = HostileES(bulk=bulk)
    cfg = config(tmp_path, [es.url], n=30, extra=", request_timeout: 2")
    agent = subprocess.Popen([SHIPPER, "run", "-c", str(cfg)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        assert wait(lambda: calls["n"] >= 1, 30), "the first bulk request was sent"
        # request_timeout is 2 s; the drip would last 120 s. Allow generous slack for a loaded machine.
        assert wait(lambda: es.ns() == list(range(30)), 30), f"stored {len(es.ns())} of 30 while the answer dripped"
    finally:
        stop_process(agent)
        es.stop()
