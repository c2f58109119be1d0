"""Integers past 64 bits reach the event as their exact digits, never as a float (issue 21).

orjson reads such an integer as a float (a 30-digit Cloudera AI model id became '1.2345678901234568e+29')
and refuses one past a double's range; shipper.exact_json reads both exactly."""
from __future__ import annotations

import json
import re

import orjson
import pytest
from hypothesis import given, strategies as st

from shipper import exact_json
from shipper_plugins.parsers.cloudera_ai import ClouderaAIParser
from shipper_plugins.parsers.databricks import DatabricksParser
from shipper_plugins.parsers.datameer import DatameerParser
from shipper_plugins.parsers.json_lines import JsonLinesParser
from shipper_plugins.parsers.puppet_enterprise import PuppetEnterpriseParser
from tests.parsers.test_databricks import make_record

BIG = 123456789012345678901234567890
LONG_MIN, LONG_MAX = -(2 ** 63), 2 ** 63 - 1


@given(st.integers(min_value=-(10 ** 400), max_value=10 ** 400), st.booleans())
def test_every_integer_is_read_exactly(n, as_text):
    text = json.dumps({"n": n, "s": "x", "f": 1.5, "list": [n]})
    doc = exact_json.loads(text if as_text else text.encode())
    want = n if LONG_MIN <= n <= LONG_MAX else str(n)
    assert doc == {"n": want, "s": "x", "f": 1.5, "list": [want]}
    orjson.dumps(doc)  # what an output will do with it


@given(st.lists(st.one_of(st.binary(max_size=8), st.integers(0, 10 ** 25).map(lambda n: str(n).encode()))).map(b"".join),
       st.sampled_from([bytes, bytearray, memoryview, lambda b: b.decode("latin-1")]))
def test_long_digit_runs_found_as_the_regex_finds_them(text, kind):
    # The check that sends a record to the exact reader: a run of 19 ASCII digits, and nothing else
    # (Unicode digits, 18 digits broken by another byte) is one.
    assert exact_json.has_long_digits(kind(text)) == (re.search(rb"[0-9]{19}", text) is not None)


@given(st.lists(st.one_of(st.text(max_size=6), st.integers(0, 10 ** 25).map(str),
                          st.sampled_from(["\u0663" * 19, "\uff11" * 19, "\ud800", "\udfff9", "é" * 3]))).map("".join))
def test_long_digit_runs_in_a_text_found_as_the_regex_finds_them(text):
    # A text (a JSON string inside a record, read again) is checked as its UTF-8: Unicode digits (Arabic-Indic,
    # full-width) and lone surrogates are no ASCII digit there either.
    assert exact_json.has_long_digits(text) == (re.search(r"[0-9]{19}", text) is not None)


_RECORD = st.one_of(st.integers(-(10 ** 30), 10 ** 30).map(lambda n: json.dumps({"n": n, "s": str(n)}).encode()),
                   st.sampled_from([b"[1e400]", b"{\"a\": " + b"9" * 400 + b"}", b"{\"a\": 1,}", b"7" * 18, b"x"]))


@given(st.lists(_RECORD, max_size=6))
def test_a_batch_s_loads_reads_every_record_as_loads_does(records):
    # loads_for: orjson.loads itself for a batch with no run of 19 digits (one check of the batch), else loads
    loads = exact_json.loads_for(records)
    for record in records:
        try:
            want = exact_json.loads(record)
        except orjson.JSONDecodeError as e:
            with pytest.raises(orjson.JSONDecodeError) as got:
                loads(record)
            assert str(got.value) == str(e)
        else:
            assert loads(record) == want


@pytest.mark.parametrize("bad", [b"[1e400]", b"[NaN, " + b"9" * 400 + b"]", b"{\"a\": " + b"9" * 400 + b",}",
                                 b"[" * 1020 + b"1234567890123456789" + b"]" * 1020])
def test_what_orjson_refuses_stays_refused(bad):
    with pytest.raises(orjson.JSONDecodeError):
        exact_json.loads(bad)


def _no_float_of_big(ev: dict) -> str:
    text = orjson.dumps(ev).decode()
    assert "e+29" not in text and "1.2345678901234568" not in text, text
    return text


def test_cloudera_ai_model_id_of_30_digits():
    for desc in (f'{{"model_id": {BIG}, "username": "alice"}}', {"model_id": BIG, "username": "alice"},
                 f"model: churn, model id: {BIG}, username: alice"):
        raw = json.dumps({"id": BIG, "user_id": "u", "event_name": "model created", "description": desc,
                          "created_at": "2024-05-01T10:11:12"}).encode()
        [ev] = ClouderaAIParser().parse(raw)
        _no_float_of_big(ev)
        assert ev["cloudera_ai"]["model"]["id"] == str(BIG), ev
        assert ev["event"]["id"] == str(BIG), ev


def test_cloudera_ai_keeps_a_big_integer_of_one_record_in_a_batch():
    """parse_batch reads a batch with one loads (exact_json.loads_for): the one record with a 30-digit id keeps it."""
    lines = [json.dumps({"id": n, "user_id": "u", "event_name": "model created", "description": f"model id: {n}",
                         "created_at": "2024-05-01T10:11:12"}).encode() for n in (1, 2, BIG, 3)]
    events = [ev for evs in ClouderaAIParser().parse_batch(lines) for ev in evs]
    _no_float_of_big(events[2])
    assert events[2]["event"]["id"] == str(BIG) and events[3]["event"]["id"] == "3", events


def test_json_lines_keeps_a_big_integer():
    [ev] = JsonLinesParser().parse(json.dumps({"message": "m", "n": BIG, "huge": 10 ** 400}).encode())
    _no_float_of_big(ev)
    assert ev["generic"]["n"] == str(BIG) and ev["generic"]["huge"] == str(10 ** 400), ev


def test_databricks_request_param_of_30_digits():
    for shape in ("diagnostic", "diagnostic_strings"):  # requestParams an object, or its JSON text
        raw, _ = make_record("accounts", "add", shape, params={"clusterId": "PLACEHOLDER"})
        raw = raw.replace(b'"PLACEHOLDER"', str(BIG).encode()).replace(b'\\"PLACEHOLDER\\"', str(BIG).encode())
        assert str(BIG).encode() in raw
        [ev] = DatabricksParser().parse(raw)
        text = _no_float_of_big(ev)
        assert str(BIG) in text, text


def test_databricks_keeps_a_big_integer_of_one_record_in_a_batch():
    """parse_batch reads a batch with one loads (exact_json.loads_for): the one record with a 30-digit parameter
    keeps it."""
    lines = [make_record("accounts", "add", "diagnostic", params={"clusterId": n})[0] for n in (1, 2, "PLACEHOLDER", 3)]
    lines[2] = lines[2].replace(b'"PLACEHOLDER"', str(BIG).encode())
    assert str(BIG).encode() in lines[2]
    events = [ev for evs in DatabricksParser().parse_batch(lines) for ev in evs]
    assert str(BIG) in _no_float_of_big(events[2])


def test_datameer_keeps_a_big_integer():
    [ev] = DatameerParser().parse(json.dumps({"timestamp": "2026-03-04 05:06:07", "performingUser": "admin",
                                              "actionType": "USER_MANAGEMENT", "action": "ADD_USER", "id": BIG}).encode())
    text = _no_float_of_big(ev)
    assert str(BIG) in text, text


def test_datameer_keeps_a_big_integer_of_one_record_in_a_batch():
    lines = [json.dumps({"timestamp": "2026-03-04 05:06:07", "performingUser": "admin", "actionType": "USER_MANAGEMENT",
                         "action": "ADD_USER", "id": n}).encode() for n in (1, 2, BIG, 3)]
    events = [ev for evs in DatameerParser().parse_batch(lines) for ev in evs]
    assert str(BIG) in _no_float_of_big(events[2])


def test_puppet_enterprise_keeps_a_big_object_id():
    commit = {"object": {"id": "PLACEHOLDER", "name": "jean"}, "subject": {"id": "42bf351c", "name": "admin"},
              "timestamp": "2019-03-05T18:52:27Z", "events": [{"message": "Deleted user jean"}]}
    raw = json.dumps({"service_id": "rbac", "api_version": "v1", "commit": commit}).replace('"PLACEHOLDER"', str(BIG))
    [ev] = PuppetEnterpriseParser().parse(raw.encode())
    text = _no_float_of_big(ev)
    assert str(BIG) in text, text
