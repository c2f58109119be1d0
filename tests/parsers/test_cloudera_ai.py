"""Cloudera AI user_events parser: every documented event, description reading, bad rows (hypothesis)."""
from __future__ import annotations

import re
from datetime import datetime, timezone

import orjson
import pytest
from hypothesis import given, settings, strategies as st

from shipper.ecs import PARSE_FAILURE, UNMAPPED_ACTION, audit_message
from shipper_plugins.parsers.cloudera_ai import CATALOG, ClouderaAIParser
from tests.support import bytes_kept_by_parser
from tests.vendor_lists import SAMPLES, cloudera_ai_event_names


def test_every_event_name_of_the_seed_is_in_the_catalogue():
    names = cloudera_ai_event_names()
    assert len(names) >= 48, names  # ~50 documented; a parse of the seed that finds few is broken
    assert "site config updated" in names and "ldap/saml user creation" in names
    missing = [n for n in names if (n.lower(),) not in CATALOG]
    assert not missing, missing
    partial = (SAMPLES / "cloudera_ai" / "user_events-documented-event_names.partial.txt").read_text()
    for line in partial.splitlines():
        if line.strip() and not line.startswith("#"):
            assert (line.strip().lower(),) in CATALOG, line


def row(**kw) -> bytes:
    base = {"id": 42, "user_id": "3f1b6c8e-0c1e-4a1e-9c55-1d2f3a4b5c6d", "ipaddr": "10.20.30.40",
            "user_agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/51.0.2704.103 Safari/537.36",
            "event_name": "model created", "description": "model: churn-v2, model id: 17, user type: ADMIN, username: alice",
            "created_at": "2024-05-01T10:11:12.345678"}
    base.update(kw)
    return orjson.dumps(base)


@pytest.mark.parametrize("name", sorted(k[0] for k in CATALOG))
def test_each_catalogued_event_is_valid_ecs(name, assert_ecs):
    [ev] = ClouderaAIParser().parse(row(event_name=name))
    assert_ecs(ev, "cloudera_ai")
    assert ev["event"]["action"] == name and ev["event"]["category"] and ev["event"]["type"]
    assert "tags" not in ev


def test_a_full_row(assert_ecs):
    [ev] = ClouderaAIParser().parse(row())
    assert_ecs(ev, "cloudera_ai")
    assert ev["@timestamp"] == "2024-05-01T10:11:12.345Z"  # naive: UTC by default
    assert ev["event"]["id"] == "42" and ev["event"]["dataset"] == "cloudera_ai.audit"
    assert ev["event"]["category"] == ["configuration"] and ev["event"]["type"] == ["creation"]
    assert ev["source"] == {"ip": "10.20.30.40"}
    assert ev["user_agent"]["original"].startswith("Mozilla/5.0 (X11")
    assert ev["user"] == {"id": "3f1b6c8e-0c1e-4a1e-9c55-1d2f3a4b5c6d", "name": "alice", "roles": ["ADMIN"]}
    ca = ev["cloudera_ai"]
    assert ca["model"] == {"name": "churn-v2", "id": "17"} and ca["user_type"] == "ADMIN"
    assert ca["description"] == "model: churn-v2, model id: 17, user type: ADMIN, username: alice"
    assert ca["internal"] is False
    assert set(ev["related"]["user"]) == {"alice", "3f1b6c8e-0c1e-4a1e-9c55-1d2f3a4b5c6d"}
    assert ev["related"]["ip"] == ["10.20.30.40"]


def test_internal_component_is_recognisable(assert_ecs):
    [ev] = ClouderaAIParser().parse(row(ipaddr="127.0.0.1", event_name="session stopped", description=None))
    assert_ecs(ev, "cloudera_ai")
    assert ev["cloudera_ai"]["internal"] is True and "cloudera_ai_internal" in ev["tags"]
    assert ev["event"]["category"] == ["process", "session"] and ev["event"]["type"] == ["end"]


@pytest.mark.parametrize("description,method", [
    ("User alice logged in with LDAP, user type: NORMAL", "LDAP"),
    ('{"username": "bob", "userType": "ADMIN", "authMethod": "saml"}', "SAML"),
    ("username=carol; auth=local; NORMAL", "local"),
])
def test_user_login_keeps_the_authentication_method(description, method, assert_ecs):
    [ev] = ClouderaAIParser().parse(row(event_name="user login", description=description))
    assert_ecs(ev, "cloudera_ai")
    assert ev["cloudera_ai"]["auth_method"] == method
    assert ev["event"]["category"] == ["authentication"] and ev["event"]["type"] == ["start"]
    assert ev["cloudera_ai"]["description"] == description


def test_description_as_json_object_and_unknown_text():
    [ev] = ClouderaAIParser().parse(row(description='{"modelName": "m", "modelId": 9, "username": "dee", "userType": "normal"}'))
    assert ev["cloudera_ai"]["model"] == {"name": "m", "id": "9"} and ev["user"]["name"] == "dee"
    assert ev["user"]["roles"] == ["NORMAL"]
    [ev] = ClouderaAIParser().parse(row(event_name="file deleted", description="deleted /home/cdsw/x.py"))
    assert "name" not in ev["user"] and ev["cloudera_ai"]["description"] == "deleted /home/cdsw/x.py"
    assert "auth_method" not in ev["cloudera_ai"]  # only read for logins


@pytest.mark.parametrize("created_at,zone,expected", [
    ("2024-05-01T10:00:00", "UTC", "2024-05-01T10:00:00.000Z"),
    ("2024-05-01 10:00:00", "Europe/Berlin", "2024-05-01T08:00:00.000Z"),  # naive: the source's timezone
    ("2024-05-01T10:00:00+02:00", "Asia/Tokyo", "2024-05-01T08:00:00.000Z"),  # an offset wins
    ("2024-05-01 10:00:00.5+00", "Europe/Berlin", "2024-05-01T10:00:00.500Z"),  # psql text of timestamptz
    (1714557600, "UTC", "2024-05-01T10:00:00.000Z"),
])
def test_created_at(created_at, zone, expected):
    [ev] = ClouderaAIParser({"timezone": zone}).parse(row(created_at=created_at))
    assert ev["@timestamp"] == expected and "tags" not in ev


def test_flagged_not_dropped(assert_ecs):
    p = ClouderaAIParser()
    for raw, why in ((b"not json", "not a Cloudera AI"), (b"[1,2]", "JSON object"),
                     (row(created_at="yesterday"), "unreadable created_at"), (row(event_name=None), "missing event_name"),
                     (row(created_at=None), "missing created_at")):
        [ev] = p.parse(raw)
        assert_ecs(ev, "cloudera_ai")
        assert PARSE_FAILURE in ev["tags"] and why in ev["error"]["message"]
        assert ev["event"]["original"] == raw.decode()
    [ev] = p.parse(row(event_name="notebook exploded"))
    assert UNMAPPED_ACTION in ev["tags"] and ev["event"]["action"] == "notebook exploded"


def test_odd_addresses_and_extra_columns(assert_ecs):
    p = ClouderaAIParser()
    [ev] = p.parse(row(ipaddr="203.0.113.9, 10.0.0.1", workspace="ml-prod"))
    assert_ecs(ev, "cloudera_ai")
    assert ev["source"]["ip"] == "203.0.113.9" and ev["related"]["ip"] == ["203.0.113.9", "10.0.0.1"]
    assert ev["cloudera_ai"]["ipaddr"] == "203.0.113.9, 10.0.0.1" and ev["cloudera_ai"]["workspace"] == "ml-prod"
    [ev] = p.parse(row(ipaddr="unknown"))
    assert "source" not in ev and ev["cloudera_ai"]["ipaddr"] == "unknown"
    [ev] = p.parse(row(ipaddr="::1"))
    assert ev["cloudera_ai"]["internal"] is True


json_value = st.recursive(st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1)
                          | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
                          lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3),
                          max_leaves=8)


@given(doc=st.dictionaries(st.sampled_from(["id", "user_id", "ipaddr", "user_agent", "event_name", "description",
                                        "created_at", "other"]), json_value))
@settings(max_examples=300, deadline=None)
def test_any_object_gives_one_valid_event(doc, assert_ecs):
    [ev] = ClouderaAIParser().parse(orjson.dumps(doc))
    assert_ecs(ev, "cloudera_ai")
    datetime.fromisoformat(ev["@timestamp"].replace("Z", "+00:00"))
    if doc.get("id") not in (None, ""):
        assert ev["event"]["id"] == str(doc["id"])
    if isinstance(doc.get("description"), str):
        assert ev["cloudera_ai"]["description"] == doc["description"]


@given(st.binary(max_size=200))
@settings(max_examples=300, deadline=None)
def test_any_bytes_never_raise(raw):
    evs = ClouderaAIParser().parse(raw)
    assert len(evs) == 1


@given(st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1)))
def test_naive_created_at_is_utc_by_default(dt):
    [ev] = ClouderaAIParser().parse(row(created_at=dt.isoformat()))
    expected = dt.replace(tzinfo=timezone.utc)
    got = datetime.fromisoformat(ev["@timestamp"].replace("Z", "+00:00"))
    assert abs((got - expected).total_seconds()) < 0.001


def test_a_description_with_several_keys_for_one_field_reads_the_same_under_every_hash_seed():
    """The preferred key wins ('username' over 'user', 'user type' over 'role'), whatever the process's
    hash seed: the keys were sets, so after a restart the same row could name another user."""
    import subprocess
    import sys
    code = ("import orjson; from shipper_plugins.parsers.cloudera_ai import ClouderaAIParser as P\n"
            "for d in ('user: bob, username: alice, role: ADMIN, user type: NORMAL, auth: SAML, method: LDAP',\n"
            "          '{\"user\": \"bob\", \"username\": \"alice\", \"role\": \"ADMIN\", \"userType\": \"NORMAL\"}'):\n"
            "    [ev] = P().parse(orjson.dumps({'event_name': 'user login', 'description': d, 'created_at': 0}))\n"
            "    print(ev['user']['name'], ev['user']['roles'], ev['cloudera_ai'].get('auth_method'))\n")
    outs = {subprocess.run([sys.executable, "-c", code], env={"PYTHONHASHSEED": str(seed)}, capture_output=True,
                           text=True, check=True).stdout for seed in range(6)}
    assert outs == {"alice ['NORMAL'] SAML\nalice ['NORMAL'] None\n"}, outs


@given(dt=st.datetimes(min_value=datetime(1000, 1, 1), max_value=datetime(9999, 12, 31)),
       sep=st.sampled_from(["T", " ", "t", "_"]), digits=st.integers(0, 9),
       suffix=st.sampled_from(["", "Z", "z", "+00", "+00:00", "+0000", "+02:00", "-00", " ", "x"]),
       zone=st.sampled_from(["UTC", "Etc/UTC", "Europe/Berlin", "America/New_York"]))
@settings(max_examples=500, deadline=None)
def test_created_at_by_text_says_what_vendor_time_says(dt, sep, digits, suffix, zone):
    """The parser's fast path for ISO text (naive in a UTC source, or UTC) against shipper.ecs.vendor_time."""
    from shipper.ecs import vendor_time
    text = dt.strftime(f"%Y-%m-%d{sep}%H:%M:%S") + (f".{dt.microsecond:06d}{'7' * 3}"[:digits + 1] if digits else "") + suffix
    p = ClouderaAIParser({"timezone": zone})
    assert p._timestamp(text) == vendor_time(text, p.zone)


@pytest.mark.parametrize("text", ["2024-02-30 00:00:00", "2023-02-29T10:00:00", "2024-02-29T10:00:00.5", "2024-13-01 00:00:00",
                                  "2024-00-10 00:00:00", "2024-05-01 24:00:00", "2024-05-01 10:60:00", "0999-01-01 00:00:00",
                                  "2024-05-01T10:00:00.", "２０２４-05-01 10:00:00", "2024-05-01T10:00:00.1234567"])
def test_created_at_edge_texts_say_what_vendor_time_says(text):
    from shipper.ecs import vendor_time
    for zone in ("UTC", "Europe/Berlin"):
        p = ClouderaAIParser({"timezone": zone})
        assert p._timestamp(text) == p._timestamp(text) == vendor_time(text, p.zone)


def _pairs_reference(text: str) -> dict:
    """The `key: value` reading as first written (m.group per group, re.sub per key), kept to check the faster one."""
    from shipper_plugins.parsers.cloudera_ai import _PAIR
    pairs: dict = {}
    for m in _PAIR.finditer(text):
        value = m.group("dq") if m.group("dq") is not None else m.group("sq") if m.group("sq") is not None else m.group("bare")
        words = re.sub(r"[\s-]+", "_", m.group("key").strip().lower()).split("_")
        for n in (len(words), 2, 1):
            pairs.setdefault("_".join(words[-n:]), value.strip())
    return pairs


def _read_reference(text: str) -> dict:
    from shipper_plugins.parsers import cloudera_ai as ca
    pairs, found = _pairs_reference(text), {}
    for name, keys in ca._FIELD_KEYS:
        for k in keys:
            v = ca._text(pairs.get(k))
            if v:
                found[name] = v
                break
    ut = found.get("user_type")
    if ut is not None and ut.upper() in ("NORMAL", "ADMIN"):
        found["user_type"] = ut.upper()
    elif text:
        m = ca._USER_TYPE.search(text)
        if m:
            found["user_type"] = m.group(1)
        elif ut is not None:
            del found["user_type"]
    am = found.get("auth_method")
    m = ca._AUTH_METHOD.search(am if am is not None else text)
    if m:
        found["auth_method"] = "local" if m.group(1).lower() == "local" else m.group(1).upper()
    elif am is not None:
        del found["auth_method"]
    return found


_DESC_PARTS = st.sampled_from(["username", "user name", "User-Name", "user", "login", "as user", "role", "user type",
                               "type of user", "model", "Model Name", "model-id", "modelId", "auth", "auth method",
                               "method", "x", ":", "=", ",", ";", " ", "  ", "\n", '"', "'", "-", "_", "NORMAL",
                               "admin", "LDAP", "saml", "Local", "alice", "é", "\t", "{", "ſaml", "ſ", "LOCAL", "ADMINS",
                               "xNORMAL", "ß", "K"])


@given(st.lists(_DESC_PARTS, max_size=16).map("".join))
@settings(max_examples=1000, deadline=None)
def test_description_text_reads_as_the_reference_reading(text):
    from shipper_plugins.parsers.cloudera_ai import _read_description
    if not text.lstrip().startswith("{"):
        want = _read_reference(text)
        assert _read_description(text) == want
        want.pop("auth_method", None)  # looked for only when wanted (logins)
        assert _read_description(text, want_auth=False) == want


def test_a_memoised_description_read_for_another_event_then_a_login_gives_the_method():
    p = ClouderaAIParser()
    d = "username: zoe, auth: ſaml"
    [a], [b], [c] = p.parse_batch([row(event_name="file deleted", description=d), row(event_name="user login", description=d),
                                   row(event_name="file deleted", description=d)])
    assert "auth_method" not in a["cloudera_ai"] and "auth_method" not in c["cloudera_ai"]
    assert b["cloudera_ai"]["auth_method"] == "SAML" and a["user"]["name"] == b["user"]["name"] == "zoe"


def test_events_share_no_dict_the_pipeline_writes_to():
    """Memoised values (addresses, catalogue lists) may be shared; the event, its `event`, `tags`,
    `user`, `related` and `cloudera_ai` are each event's own (enrich and flag_problems write to them)."""
    p = ClouderaAIParser()
    raws = [row(id=i, ipaddr="127.0.0.1", event_name="user login", description="username: a, LDAP") for i in range(2)]
    raws.append(row(created_at="yesterday", ipaddr="127.0.0.1"))
    a, b, c = (evs[0] for evs in p.parse_batch(raws))
    assert p.parse(raws[0]) == [a] and p.parse_batch(raws[:1]) == [[a]]
    for name in ("event", "tags", "user", "related", "cloudera_ai"):
        assert a[name] is not b[name] and a[name] is not c[name], name
    assert a["related"]["user"] is not b["related"]["user"]
    assert "_parse_failure" in c["tags"] and "_parse_failure" not in a["tags"]


def test_hostile_rows_do_not_grow_the_parser_without_limit():
    """Every memo is bounded in entries and in the text an entry keeps: rows of unique, long values in
    every column leave the parser no larger than a few such rows do."""
    def rows(start: int, n: int):
        for i in range(start, start + n):
            big = f"{i:06d}" + "x" * 2000
            yield orjson.dumps({"id": big, "user_id": big, "ipaddr": f"10.0.0.1, {big}", "user_agent": big,
                                "event_name": big, "description": f"username: {big}, {big}: NORMAL, model: {big}",
                                "created_at": big, big[:100]: 1, big: 2})

    grown = bytes_kept_by_parser(ClouderaAIParser(), rows)
    assert grown < 2_000_000, f"{grown} bytes kept after 2000 rows of 20 kB"


# -- what an auditor asks (docs/ecs-conventions.md) ----------------------------------------------


def test_time_zone_of_a_zoneless_created_at(assert_ecs):
    [ev] = ClouderaAIParser({"timezone": "Asia/Tokyo"}).parse(row(created_at="2024-05-01 10:11:12"))
    assert_ecs(ev, "cloudera_ai")
    assert ev["event"]["timezone"] == "Asia/Tokyo" and ev["@timestamp"] == "2024-05-01T01:11:12.000Z"
    [ev] = ClouderaAIParser({"timezone": "Asia/Tokyo"}).parse(row(created_at="2024-05-01 10:11:12+00"))
    assert "timezone" not in ev["event"] and ev["@timestamp"] == "2024-05-01T10:11:12.000Z"
    [ev] = ClouderaAIParser().parse(row())  # the documented naive time in a UTC source
    assert ev["event"]["timezone"] == "UTC"


@pytest.mark.parametrize("name", ["user login", "user logout"])
def test_logins_have_an_outcome(name, assert_ecs):
    [ev] = ClouderaAIParser().parse(row(event_name=name, description="username: alice, NORMAL, LDAP"))
    assert_ecs(ev, "cloudera_ai")
    assert ev["event"]["outcome"] == "success" and ev["user"]["name"] == "alice"


@pytest.mark.parametrize("name", ["job shared with user", "collaborator added", "session unshared with user"])
def test_object_type_of_a_sharing_change(name, assert_ecs):
    [ev] = ClouderaAIParser().parse(row(event_name=name))
    assert_ecs(ev, "cloudera_ai")
    assert ev["event"]["category"] == ["iam"] and ev["event"]["type"] == ["admin", "change"]


def test_every_iam_entry_names_its_object():
    for (name,), cls in CATALOG.items():
        if "iam" in cls.category:
            assert {"user", "group", "admin"} & set(cls.type), name


def test_message_says_who_did_what():
    [ev] = ClouderaAIParser().parse(row())
    assert ev["message"] == "alice: model created model churn-v2"
    [ev] = ClouderaAIParser().parse(row(description=None, event_name="project deleted"))
    assert ev["message"] == "3f1b6c8e-0c1e-4a1e-9c55-1d2f3a4b5c6d: project deleted"



@pytest.mark.parametrize("fields", [
    {}, {"description": None}, {"description": None, "user_id": ""}, {"description": None, "user_id": None},
    {"user_id": None}, {"description": "username: "}, {"description": "user type: NORMAL"},
    {"event_name": None}, {"event_name": "no such event"}, {"event_name": "user login"},  # its outcome
    {"event_name": "user login", "description": "username: bob, auth method: LDAP"},
    {"description": "model id: 9, project: p1, project id: 3, username: bob"},
    {"event_name": "project collaborator added", "description": "username: alice, collaborator: bob"},
    {"description": "username: alice, team: data, member: bob"}, {"description": "username: alice, team: data"},
    {"description": "file path: /home/cdsw/x.py/"}, {"description": "file name: x.py, username: alice"},
    {"description": {"username": "carol", "model_name": "m"}}, {"description": '{"user": "dan"}'},
    {"created_at": None}, {"ipaddr": "127.0.0.1"},
    {"model": {"name": "m9"}, "description": "username: bob"},  # extra columns named as what the message names
    {"project": {"id": 4}, "description": "username: bob, model: m1"}, {"project": "p", "model": None},
])
def test_the_message_is_audit_messages_line(fields):
    """The parser writes the message of a record with no target, group, file or outcome itself, not through
    audit_message (issue 19): the same line as audit_message's, whatever the record holds."""
    [ev] = ClouderaAIParser().parse(row(**fields))
    ca = ev.get("cloudera_ai") or {}
    what = ev["event"].get("action") or "unknown event"
    for name in ("model", "project"):
        if isinstance(ca.get(name), dict):
            what += f" {name} {ca[name].get('name') or ca[name].get('id')}"
    assert ev["message"] == audit_message(ev, what), fields

def test_unparsable_record_is_a_pipeline_error():
    [ev] = ClouderaAIParser().parse(b'{"id": 1, "event_name": "user login", "created_at": ')
    assert ev["event"]["kind"] == "pipeline_error" and PARSE_FAILURE in ev["tags"]
