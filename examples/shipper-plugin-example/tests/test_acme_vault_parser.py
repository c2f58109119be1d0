"""The acme_vault parser on the vault's records: ECS fields, flagged problems, and never an exception."""
from __future__ import annotations

import json

import orjson
from hypothesis import given, settings, strategies as st
from shipper_plugin_example.parser import AcmeVaultParser

READ = (b'{"time": "2026-03-01T10:00:00.123+01:00", "request_id": "r-17", "actor": "alice", '
        b'"client_ip": "10.1.2.3", "operation": "secret.read", "path": "kv/app/db", "status": "ok"}')


def test_a_read_is_a_configuration_access_by_its_actor():
    [ev] = AcmeVaultParser().parse(READ)
    assert ev["@timestamp"] == "2026-03-01T09:00:00.123Z"
    assert ev["event"] == {"kind": "event", "module": "acme_vault", "dataset": "acme_vault.audit",
                           "action": "secret.read", "id": "r-17", "category": ["configuration"],
                           "type": ["access"], "outcome": "success"}
    assert ev["user"] == {"name": "alice"} and ev["source"] == {"ip": "10.1.2.3"}
    assert ev["related"] == {"user": ["alice"], "ip": ["10.1.2.3"]}
    assert ev["message"] == "alice: secret.read on kv/app/db (ok)"
    assert ev["acme_vault"] == orjson.loads(READ)
    assert "tags" not in ev


def test_a_denied_login_is_a_failed_authentication_with_its_error():
    raw = (b'{"time": "2026-03-01 10:00:00", "request_id": 9, "actor": "mallory", "client_ip": "203.0.113.9:5522",'
           b' "operation": "AUTH.LOGIN", "status": "denied"}')
    [ev] = AcmeVaultParser({"timezone": "America/New_York"}).parse(raw)
    assert ev["@timestamp"] == "2026-03-01T15:00:00.000Z"  # no zone written: the source's timezone
    assert ev["event"]["category"] == ["authentication"] and ev["event"]["type"] == ["start"]
    assert ev["event"]["outcome"] == "failure" and ev["event"]["id"] == "9"
    assert ev["source"] == {"ip": "203.0.113.9"}


def test_what_cannot_be_read_is_shipped_flagged_with_the_record():
    [bad] = AcmeVaultParser().parse(b'{"actor": "alice", "operation": "secret.read"')
    assert bad["tags"] == ["_parse_failure"] and bad["event"]["kind"] == "pipeline_error"
    assert bad["event"]["original"] == '{"actor": "alice", "operation": "secret.read"'
    [no_time] = AcmeVaultParser().parse(b'{"actor": "alice", "operation": "vault.seal"}')
    assert no_time["tags"] == ["_unmapped_action", "_parse_failure"]
    assert "no readable time" in no_time["error"]["message"]
    assert no_time["event"]["action"] == "vault.seal" and no_time["user"] == {"name": "alice"}


def test_a_byte_that_is_not_utf8_costs_only_that_character():
    """docs/ecs-conventions.md: the fields hold such a byte as U+FFFD; event.original says which byte it was."""
    raw = READ.replace(b'"alice"', b'"jos\xe9"')
    [ev] = AcmeVaultParser().parse(raw)
    assert "tags" not in ev and ev["event"]["kind"] == "event"  # read whole, not a parse failure
    assert ev["user"] == {"name": "jos\ufffd"} and ev["acme_vault"]["actor"] == "jos\ufffd"
    assert ev["event"]["category"] == ["configuration"] and ev["@timestamp"] == "2026-03-01T09:00:00.123Z"
    [flagged] = AcmeVaultParser().parse(b'{"actor": "jos\xe9", "operation": "secret.read"}')  # no time: flagged
    assert flagged["tags"] == ["_parse_failure"] and flagged["user"] == {"name": "jos\ufffd"}
    assert flagged["event"]["original"] == '{"actor": "jos\\xe9", "operation": "secret.read"}'  # the byte, recoverable
    assert "created" not in flagged["event"]  # @timestamp is the time of reading: no product time to seal
    [cut] = AcmeVaultParser().parse(b'{"actor": "jos\xe9", "operation"')  # not JSON at all
    assert cut["tags"] == ["_parse_failure"] and cut["event"]["original"] == '{"actor": "jos\\xe9", "operation"'


def test_a_record_with_its_own_time_but_flagged_keeps_that_time_and_says_when_it_was_read():
    [ev] = AcmeVaultParser().parse(b'{"time": "2026-03-01T10:00:00Z", "actor": "alice"}')  # no operation
    assert ev["tags"] == ["_parse_failure"] and "no operation" in ev["error"]["message"]
    assert ev["@timestamp"] == "2026-03-01T10:00:00.000Z" and ev["event"]["created"].endswith("Z")


@settings(max_examples=300, deadline=None)
@given(st.one_of(
    st.binary(max_size=300),
    st.dictionaries(st.sampled_from(["time", "request_id", "actor", "client_ip", "operation", "path", "status",
                                     "error"]),
                    st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
                                 lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5),
                                                                                            inner, max_size=3),
                                 max_leaves=8)).map(lambda d: json.dumps(d).encode()),
))
def test_any_record_gives_one_event_and_never_an_exception(raw):
    [ev] = AcmeVaultParser().parse(raw)
    assert ev["event"]["dataset"] == "acme_vault.audit"
    assert isinstance(ev["@timestamp"], str) and ev["@timestamp"].endswith("Z")
    orjson.dumps(ev)  # what an output will write
