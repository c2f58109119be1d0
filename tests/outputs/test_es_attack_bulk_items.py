"""A bulk answer whose item list does not match the request item for item (another order, one item
repeated, an item naming another _id) must never make shipper count a document as stored that the
server did not store, nor dead-letter one the server did store. Elasticsearch answers items in request
order, each with its `_id`; a proxy, a reimplementation or a broken node may not."""
from __future__ import annotations

import json

import pytest

from tests.hostile_es import HostileES, config, dead_letter_ns, item, run_once

N = 20
BAD = 3  # the one document the server refuses for good


def refusing(srv, actions):
    """Stores every document but BAD, which it answers 400, in request order."""
    items = []
    for op, meta, doc in actions:
        if doc["generic"]["n"] == BAD:
            items.append(item(op, meta, 400, {"type": "mapper_parsing_exception", "reason": "bad"}))
        else:
            items.append(srv.store(op, meta, doc))
    return items


def answer(items, errors=True):
    return 200, {}, json.dumps({"took": 1, "errors": errors, "items": items}).encode()


def reversed_items(srv, actions):
    return answer(refusing(srv, actions)[::-1])


def first_call_only(glitch):
    calls = {"n": 0}

    def bulk(srv, actions):
        calls["n"] += 1
        if calls["n"] > 1:
            return answer(refusing(srv, actions))
        return glitch(srv, actions)
    return bulk


def one_item_repeated(srv, actions):
    first = srv.store(*actions[0])
    return answer([first] * len(actions), errors=False)


def an_item_names_another_id(srv, actions):
    items = []
    for op, meta, doc in actions:
        if doc["generic"]["n"] == 7:  # not stored, but answered "created" for some other _id
            items.append(item(op, {**meta, "_id": "someone-else"}, 201))
        elif doc["generic"]["n"] == BAD:
            items.append(item(op, meta, 400, {"type": "mapper_parsing_exception", "reason": "bad"}))
        else:
            items.append(srv.store(op, meta, doc))
    return answer(items)


@pytest.mark.parametrize("bulk", [reversed_items, first_call_only(one_item_repeated),
                                  first_call_only(an_item_names_another_id)],
                         ids=["items_reversed", "one_item_repeated", "item_names_another_id"])
def test_a_bulk_answer_that_does_not_match_the_request_loses_nothing(tmp_path, bulk):
    es = HostileES(bulk=bulk)
    try:
        r = run_once(config(tmp_path, [es.url], n=N), timeout=30)
    finally:
        es.stop()
    assert es.ns() == [n for n in range(N) if n != BAD], r.stderr  # every document the server would take, stored
    assert dead_letter_ns(tmp_path) == [BAD], "only the refused document is dead-lettered"
    assert r.returncode == 0, r.stderr
