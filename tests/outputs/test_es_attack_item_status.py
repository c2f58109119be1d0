"""An item whose `status` is not a number (a string, null, a list, a boolean: a broken proxy or
reimplementation) is an answer shipper cannot read: the document is sent again, never counted as
stored and never dead-lettered on such a word, and the output does not fail with a traceback."""
from __future__ import annotations

import json

import pytest

from tests.hostile_es import HostileES, config, dead_letter_ns, run_once

N, ODD = 20, 3


@pytest.mark.parametrize("status", ["201", None, [201], True], ids=["string", "null", "list", "boolean"])
def test_an_item_status_that_is_not_a_number_is_sent_again(tmp_path, status):
    calls = {"n": 0}

    def bulk(srv, actions):
        calls["n"] += 1
        items = []
        for op, meta, doc in actions:
            if calls["n"] == 1 and doc["generic"]["n"] == ODD:  # not stored, answered oddly once
                items.append({op: {"_index": meta["_index"], "_id": meta["_id"], "status": status}})
            else:
                items.append(srv.store(op, meta, doc))
        return 200, {}, json.dumps({"took": 1, "errors": False, "items": items}).encode()

    es = HostileES(bulk=bulk)
    try:
        r = run_once(config(tmp_path, [es.url], n=N), timeout=30)
    finally:
        es.stop()
    assert es.ns() == list(range(N)), r.stderr
    assert dead_letter_ns(tmp_path) == []
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
