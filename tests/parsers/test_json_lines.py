"""The generic `json` parser: any JSON object kept whole, anything else shipped flagged."""
from __future__ import annotations

import orjson
from hypothesis import given, settings, strategies as st

from shipper_plugins.parsers.json_lines import JsonLinesParser


def test_object_is_kept_whole_with_its_time(assert_ecs):
    [ev] = JsonLinesParser().parse(b'{"@timestamp":"2026-01-01T10:00:00+02:00","who":"x","n":[1,2]}')
    assert_ecs(ev, "generic")
    assert ev["@timestamp"] == "2026-01-01T08:00:00.000Z"
    assert ev["generic"] == {"@timestamp": "2026-01-01T10:00:00+02:00", "who": "x", "n": [1, 2]}


def test_not_an_object_is_flagged(assert_ecs):
    for raw in (b"[1]", b"nope", b'"s"'):
        [ev] = JsonLinesParser().parse(raw)
        assert_ecs(ev, "generic")
        assert ev["tags"] == ["_parse_failure"] and ev["event"]["original"] == raw.decode()


@settings(max_examples=200, deadline=None)
@given(raw=st.binary(max_size=200))
def test_random_bytes_never_raise(raw, ecs):
    [ev] = JsonLinesParser().parse(raw)
    assert ecs.check(ev, ["generic"]) == []
    orjson.dumps(ev)
