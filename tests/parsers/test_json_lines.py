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


@settings(max_examples=200, deadline=None)
@given(value=st.binary(max_size=40).filter(lambda b: not any(c in b'"\\' or c < 0x20 for c in b)),
       seq=st.integers(0, 1000))
def test_a_string_with_bytes_that_are_not_utf8_is_read_with_them_escaped_and_flagged(value, seq, assert_ecs):
    # A Latin-1 name in a UTF-8 log (attack 5): the other fields extracted, the value's undecodable bytes
    # as the text `\xNN` (as event.original keeps them: original_text), never U+FFFD, and the event tagged
    raw = b'{"seq": %d, "user": "%s"}' % (seq, value)
    [ev] = JsonLinesParser().parse(raw)
    assert_ecs(ev, "generic")
    assert ev["generic"] == {"seq": seq, "user": value.decode("utf-8", "backslashreplace")}
    try:
        value.decode("utf-8")
        valid = True
    except UnicodeDecodeError:
        valid = False
    assert ("_invalid_encoding" in ev["tags"]) is not valid
    assert "_parse_failure" not in ev["tags"]


def test_a_byte_that_is_not_utf8_outside_a_string_is_a_flagged_failure_kept_recoverable(assert_ecs):
    [ev] = JsonLinesParser().parse(b'{"seq": 0, \xe9"user": "x"}')
    assert_ecs(ev, "generic")
    assert ev["tags"] == ["_parse_failure", "_invalid_encoding"]
    assert ev["event"]["original"] == '{"seq": 0, \\xe9"user": "x"}'
    assert "surrogates" not in ev["error"]["message"]
