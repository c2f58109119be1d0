"""Datameer parser: every documented action, every key spelling, broken lines."""
from __future__ import annotations

import csv
from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings, strategies as st

from shipper.ecs import PARSE_FAILURE, UNMAPPED_ACTION, audit_message
from shipper_plugins.parsers.datameer import DatameerParser
from tests.support import bytes_kept_by_parser
from tests.vendor_lists import datameer_actions

CATALOG_CSV = Path(__file__).resolve().parents[2] / "plugins" / "parsers" / "datameer_actions.csv"


@pytest.fixture(scope="module")
def rows():
    found = datameer_actions()
    assert len(found) >= 60, "the vendor's table was not read whole"
    return found


def catalog_rows() -> list[dict]:
    with open(CATALOG_CSV, encoding="utf-8") as f:
        return list(csv.DictReader(l for l in f if not l.startswith("#")))


def test_every_documented_row_is_in_the_catalogue(rows):
    cat = {(r["action_type"], r["action"], " ".join(r["action_performed"].split())) for r in catalog_rows()}
    for row in rows:
        performed = " ".join(row.performed.replace("\xa0", " ").split())
        assert (row.action_type, row.action, performed) in cat, f"missing from datameer_actions.csv: {row}"


def test_catalogue_fields_match_the_documentation(rows):
    documented = {(r.action_type, r.action, " ".join(r.performed.replace("\xa0", " ").split())): r.fields for r in rows}
    for r in catalog_rows():
        key = (r["action_type"], r["action"], r["action_performed"])
        assert key in documented, f"catalogue row not in the vendor's table: {key}"
        assert r["additional_fields"].split() == documented[key]


def test_catalogue_categorisation_is_ecs(ecs):
    for r in catalog_rows():
        ev = {"@timestamp": "2024-01-01T00:00:00.000Z", "ecs": {"version": "9.4.0"},
              "event": {"kind": "event", "module": "datameer", "dataset": "datameer.useraction",
                        "category": r["category"].split("|"), "type": r["type"].split("|")}}
        if r["outcome"]:
            ev["event"]["outcome"] = r["outcome"]
        assert ecs.check(ev) == [], r


def spell(name: str, style: str) -> str:
    """A documented field name ('file-uuid', 'action type') in one of the spellings we accept."""
    words = name.replace("-", " ").split()
    if style == "kebab":
        return "-".join(words)
    if style == "snake":
        return "_".join(words)
    if style == "camel":
        return words[0] + "".join(w.capitalize() for w in words[1:])
    if style == "space":
        return " ".join(words)
    if style == "upper_snake":
        return "_".join(words).upper()
    if style == "pascal":
        return "".join(w.capitalize() for w in words)
    raise AssertionError(style)


STYLES = ["kebab", "snake", "camel", "space", "upper_snake", "pascal"]


def record(row, style: str, user="alice", ip="198.51.100.7") -> tuple[bytes, dict]:
    doc = {
        spell("timestamp", style): "2026-03-04 05:06:07",
        spell("action type", style): row.action_type,
        spell("action", style): row.action,
        spell("performing user", style): user,
        spell("roles", style): ["ADMIN", "ANALYST"],
        spell("ip address", style): ip,
    }
    values = {f: f"v-{f}" for f in row.fields}
    for f, v in values.items():
        doc[spell(f, style)] = v
    return orjson.dumps(doc), values


@pytest.mark.parametrize("style", STYLES)
def test_every_action_in_every_spelling(rows, style, assert_ecs):
    parser = DatameerParser()
    for row in rows:
        raw, values = record(row, style)
        [ev] = parser.parse(raw)
        assert_ecs(ev, "datameer")
        assert "tags" not in ev, (row, ev.get("tags"), ev.get("error"))
        assert ev["event"]["action"] == row.action
        assert ev["event"]["category"] and ev["event"]["type"]
        assert ev["@timestamp"] == "2026-03-04T05:06:07.000Z"
        if row.action_type == "AUTHENTICATION" and "user-name" in values:  # a failed login: the attempted account
            assert ev["user"]["name"] == values["user-name"] and ev["datameer"]["performing_user"] == "alice"
            assert ev["datameer"]["performing_user_roles"] == ["ADMIN", "ANALYST"]  # the performer's, not the account's
            assert "roles" not in ev["user"]
        else:
            assert ev["user"]["name"] == "alice"
            assert ev["user"]["roles"] == ["ADMIN", "ANALYST"]
        assert ev["event"]["timezone"] == "UTC"
        assert ev["message"].startswith(f"{ev['user']['name']}: {row.action_type} {row.action}")
        assert ev["source"]["ip"] == "198.51.100.7"
        assert "alice" in ev["related"]["user"] and ev["related"]["ip"] == ["198.51.100.7"]
        assert ev["datameer"]["action_type"] == row.action_type
        # Nothing the vendor wrote is lost: every documented extra field is kept, snake_cased.
        for f, v in values.items():
            assert ev["datameer"][f.replace("-", "_")] == v, (style, f)
        # ...and is also put where ECS has a place for it.
        if "group-name" in values and "user-name" in values:  # membership
            assert ev["user"]["target"] == {"name": values["user-name"], "group": {"name": values["group-name"]}}
        elif "group-name" in values:
            assert ev["group"]["name"] == values["group-name"]
        for path_field in ("file-path", "folder-path", "application-path", "workbook-path", "datasource-path"):
            if path_field in values:
                assert ev["file"]["path"] in values.values()
        if "user-name" in values and row.action_type == "USER_MANAGEMENT":
            assert ev["user"]["target"]["name"] == values["user-name"]
            assert values["user-name"] in ev["related"]["user"]
        if "new-owner" in values:
            assert ev["user"]["target"]["name"] == values["new-owner"]


def test_failed_logins_are_failures_and_name_the_account(rows, assert_ecs):
    parser = DatameerParser()
    for action in ("UNABLE_TO_AUTHENTICATE", "LOGIN_ATTEMPT_ON_DISABLED_USER"):
        raw = orjson.dumps({"timestamp": "2026-03-04 05:06:07", "actionType": "AUTHENTICATION", "action": action,
                            "performingUser": None, "roles": None, "ipAddress": "203.0.113.9", "userName": "mallory"})
        [ev] = parser.parse(raw)
        assert_ecs(ev, "datameer")
        assert ev["event"]["outcome"] == "failure"
        assert ev["event"]["category"] == ["authentication"]
        assert ev["user"]["name"] == "mallory"
    [ok] = parser.parse(b'{"timestamp":"2026-03-04 05:06:07","action type":"AUTHENTICATION","action":"LOGIN","performing user":"bob"}')
    assert ok["event"]["outcome"] == "success"


def test_a_bare_user_key_is_the_performing_user_and_user_name_the_target(assert_ecs):
    raw = b'{"timestamp":"2026-01-01 00:00:00","type":"USER_MANAGEMENT","action":"DELETE_USER","user":"root","userName":"eve"}'
    [ev] = DatameerParser().parse(raw)
    assert_ecs(ev, "datameer")
    assert ev["user"]["name"] == "root" and ev["user"]["target"]["name"] == "eve"


def test_nulls_are_not_shipped(assert_ecs):
    raw = b'{"timestamp":"2026-03-04 05:06:07","action-type":"FILESYSTEM","action":"CREATE","performing-user":"a",' \
          b'"roles":null,"ip-address":null,"file-uuid":"u","file-path":"/x","connection-id":null,"connection-name":null}'
    [ev] = DatameerParser().parse(raw)
    assert_ecs(ev, "datameer")
    assert "connection_id" not in ev["datameer"] and "connection_name" not in ev["datameer"]
    assert "source" not in ev and "roles" not in ev["user"]
    assert b"null" not in orjson.dumps(ev)


def test_timezone_option_converts_to_utc():
    raw = b'{"timestamp":"2026-07-01 12:00:00","actionType":"AUTHENTICATION","action":"LOGOUT","performingUser":"a"}'
    assert DatameerParser({"timezone": "America/New_York"}).parse(raw)[0]["@timestamp"] == "2026-07-01T16:00:00.000Z"
    assert DatameerParser({"timezone": "UTC"}).parse(raw)[0]["@timestamp"] == "2026-07-01T12:00:00.000Z"


def test_log4j_layout_prefix_is_tolerated():
    raw = b'2026-07-01 12:00:00,123 INFO {"timestamp":"2026-07-01 12:00:00","actionType":"JOB","action":"START_EXECUTION","performingUser":"a"}'
    [ev] = DatameerParser().parse(raw)
    assert ev["event"]["category"] == ["process"] and ev["event"]["type"] == ["start"]


def test_unknown_action_is_shipped_and_tagged(assert_ecs):
    raw = b'{"timestamp":"2026-07-01 12:00:00","actionType":"WORKBOOK","action":"EXPLODE_SHEET","performingUser":"a","sheet":"s"}'
    [ev] = DatameerParser().parse(raw)
    assert_ecs(ev, "datameer")
    assert ev["tags"] == [UNMAPPED_ACTION]
    assert ev["event"]["action"] == "EXPLODE_SHEET" and "category" not in ev["event"]
    assert ev["datameer"]["sheet"] == "s" and ev["user"]["name"] == "a"


def _assert_failure(ev: dict, raw: bytes, assert_ecs, vendor_time: str | None = None) -> None:
    assert_ecs(ev, "datameer")
    assert PARSE_FAILURE in ev["tags"]
    assert ev["error"]["message"]
    assert ev["event"]["original"] == raw.decode("utf-8", errors="backslashreplace")  # bytes recoverable, never U+FFFD
    if vendor_time:  # a readable vendor time is kept even when other fields are missing
        assert ev["@timestamp"] == vendor_time
    else:
        ts = datetime.fromisoformat(ev["@timestamp"].replace("Z", "+00:00"))
        assert abs(datetime.now(timezone.utc) - ts) < timedelta(minutes=5), "read time expected"


@pytest.mark.parametrize("raw", [
    b"not json at all",
    b"{truncated",
    b'["a", "list"]',
    b'{"timestamp":"2026-07-01 12:00:00","actionType":"JOB","action":"START\x00_EXECUTION"}',
    b"",
    b"\x00\x00\x00",
])
def test_broken_lines_are_shipped_flagged(raw, assert_ecs):
    [ev] = DatameerParser().parse(raw)
    _assert_failure(ev, raw, assert_ecs)


@pytest.mark.parametrize("raw", [
    b'{"timestamp":"2026-07-01 12:00:00","actionType":"JOB","action":"START\x00_EXECUTION"}',  # orjson refuses it
    b'{"timestamp":"2026-07-01 12:00:00","actionType":"JOB","action":"START_EXECUTION"}\x00',
    b'2026-07-01 12:00:00 INFO\x00 {"timestamp":"2026-07-01 12:00:00","actionType":"JOB","action":"START_EXECUTION"}',
    b'{"timestamp":"2026-07-01 12:00:00","actionType":"JOB","action":"\xff\x00"}',  # not UTF-8 either
])
def test_a_nul_byte_anywhere_is_named(raw, assert_ecs):
    """The NUL check runs once orjson refused the object (JSON holds none but escaped), or on a layout prefix:
    the record says why all the same."""
    [ev] = DatameerParser().parse(raw)
    _assert_failure(ev, raw, assert_ecs)
    assert ev["error"]["message"] == "not a Datameer JSON record: line holds NUL bytes"


def test_bytes_that_are_not_utf8_are_read_as_u_fffd_not_a_failure_of_the_record():
    """docs/ecs-conventions.md: the fields hold such a byte as U+FFFD (the file source tags the line
    _invalid_encoding; event.original, when kept, says which byte it was)."""
    [ev] = DatameerParser().parse(b'{"timestamp":"2026-07-01 12:00:00","actionType":"JOB","action":"\xff\xfe"}')
    assert ev["event"]["action"] == "\ufffd\ufffd" and ev["tags"] == ["_unmapped_action"]
    assert ev["@timestamp"] == "2026-07-01T12:00:00.000Z" and ev["event"]["kind"] == "event"


@pytest.mark.parametrize("raw,missing,vendor_time", [
    (b'{"actionType":"JOB","action":"START_EXECUTION","performingUser":"a"}', "timestamp", None),
    (b'{"timestamp":"2026-07-01 12:00:00","action":"LOGIN","performingUser":"a"}', "action type", "2026-07-01T12:00:00.000Z"),
    (b'{"timestamp":"2026-07-01 12:00:00","actionType":"AUTHENTICATION"}', "action", "2026-07-01T12:00:00.000Z"),
    (b'{"timestamp":"yesterday","actionType":"AUTHENTICATION","action":"LOGIN"}', "timestamp", None),
])
def test_records_lacking_fields_are_flagged_but_keep_what_is_known(raw, missing, vendor_time, assert_ecs):
    [ev] = DatameerParser().parse(raw)
    _assert_failure(ev, raw, assert_ecs, vendor_time)
    assert missing in ev["error"]["message"]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_never_raise_and_always_ship(raw):
    evs = DatameerParser().parse(raw)
    assert len(evs) == 1
    orjson.dumps(evs[0])  # serialisable


json_scalars = st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False) | st.text(max_size=20)
json_values = st.recursive(json_scalars, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=3), max_leaves=10)


@settings(max_examples=300, deadline=None)
@given(doc=st.dictionaries(st.sampled_from(["timestamp", "action-type", "actionType", "action", "performing user",
                                        "roles", "IP", "file-path", "user-name", "x"]) | st.text(max_size=10),
                       json_values, max_size=8))
def test_any_json_object_gives_one_valid_event(doc, ecs):
    [ev] = DatameerParser().parse(orjson.dumps(doc))
    problems = ecs.check(ev, ["datameer"])
    assert problems == [], (doc, problems)


_MESSAGE_VALUES = st.none() | st.sampled_from(["", "bob", "anonymous", "/a/b.wbk", "/Old/", "FAILED", "COMPLETED",
                                              "RUNNING"]) | st.integers(0, 2)


@settings(max_examples=400, deadline=None)
@given(action_type=st.sampled_from([None, "", "FILESYSTEM", "AUTHENTICATION", "PERMISSION", "USER_MANAGEMENT", "X"]),
       action=st.sampled_from([None, "", "DELETE", "LOGIN", "UNABLE_TO_AUTHENTICATE", "CHANGE_OWNER",
                               "ADD_GROUP_PERMISSION", "ADD_USER_TO_GROUP", "X"]),
       fields=st.dictionaries(st.sampled_from(["performingUser", "userName", "newOwner", "groupName", "filePath",
                                               "folderPath", "dataPath", "executionJobStatus", "executionJobUser"]),
                              _MESSAGE_VALUES, max_size=6))
def test_the_message_is_audit_messages_line(action_type, action, fields):
    """The parser writes the message of its usual records (an actor, a path) itself, not through audit_message
    (its call and lookups were ~4 % of a record): the same line as audit_message's, whatever the record holds."""
    doc = {"timestamp": "2026-03-04 05:06:07", "actionType": action_type, "action": action, **fields}
    [ev] = DatameerParser().parse(orjson.dumps(doc))
    assert ev["message"] == audit_message(ev, f"{action_type or '?'} {action or '?'}"), doc


def test_a_parser_past_its_compiled_plans_says_what_a_fresh_one_does():
    """A parser that has seen 300 key sets (its plan memo holds them) says what a fresh one does."""
    lines = [orjson.dumps({"timestamp": "2026-03-04 05:06:07", "action-type": "FILESYSTEM", "action": "CREATE",
                           "performing-user": "alice", "roles": ["ADMIN"], "ip-address": "10.0.0.1",
                           "file-path": "/x", f"k{i}": None, "connection-id": None if i % 2 else "c", "user-name": "bob"})
             for i in range(300)]
    worn = DatameerParser()
    worn.parse_batch(lines)  # 300 key sets: the last 44 have no code of their own
    for line in lines:
        assert worn.parse(line) == DatameerParser().parse(line)
    [ev] = worn.parse(lines[-1])
    assert ev["datameer"] == {"file_path": "/x", "user_name": "bob", "action_type": "FILESYSTEM"}
    assert ev["file"] == {"path": "/x", "name": "x"} and ev["user"]["target"] == {"name": "bob"}


def test_events_share_no_dict_that_is_written_after_parsing():
    """Memoised parts may be shared (category lists, roles, source), but never a dict the pipeline writes
    to: the event, event.*, user.*, datameer.* and related.* of one record are its own."""
    line = orjson.dumps({"timestamp": "2026-03-04 05:06:07", "action-type": "AUTHENTICATION", "action": "LOGIN",
                         "performing-user": "alice", "roles": ["ADMIN"], "ip-address": "10.0.0.1", "user-name": "bob"})
    parser = DatameerParser()
    [a], [b] = parser.parse(line), parser.parse(line)
    for path in ((), ("event",), ("user",), ("datameer",), ("related",), ("related", "user")):
        x, y = a, b
        for k in path:
            x, y = x[k], y[k]
        assert x is not y, path
    a["event"].setdefault("original", "x")  # what EventBuilder does with preserve_original_event
    a["host"] = {"name": "h"}
    assert "original" not in b["event"] and "host" not in b
    assert b == parser.parse(line)[0]


def test_hostile_lines_do_not_grow_the_parser_without_limit():
    """Every memo is bounded in entries and in the text an entry keeps: lines of unique, long values in
    every field leave the parser no larger than a few such lines do."""
    def lines(start: int, n: int):
        for i in range(start, start + n):
            big = f"{i:06d}" + "x" * 2000
            yield orjson.dumps({"timestamp": big, "action-type": big, "action": big, "roles": [big], "ip-address": big,
                                big: 1, "user-name": "u", "performing-user": "p"})

    grown = bytes_kept_by_parser(DatameerParser(), lines)
    assert grown < 2_000_000, f"{grown} bytes kept after 2000 lines of 16 kB"  # unbounded: > 40 MB


SPELLINGS = [("performing-user", "performingUser"), ("ip-address", "IP"), ("roles", "userRoles"),
             ("action-type", "actionType"), ("file-uuid", "fileUuid"), ("folder-path", "FolderPath"),
             ("user-name", "userName"), ("some-key", "someKey")]


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(SPELLINGS), st.text(alphabet="abcxyz", min_size=1, max_size=6), st.booleans())
def test_two_spellings_with_two_values_are_both_kept(pair, tail, swap):
    """Datameer's key spellings are unknown (keys are read spelling-blind): when a line carries one field
    twice with different values, the first is the field's value and the other is kept too, never dropped."""
    first, second = pair[::-1] if swap else pair
    doc = {"timestamp": "2026-01-02 03:04:05", "action-type": "FILESYSTEM", "action": "CREATE",
           "performing-user": "alice", "ip-address": "10.0.0.1"}
    doc[first] = f"one<{tail}>"
    doc[second] = f"two<{tail}>"
    (ev,) = DatameerParser().parse(orjson.dumps(doc))
    shipped = orjson.dumps(ev).decode()
    assert f"one<{tail}>" in shipped and f"two<{tail}>" in shipped, ev


# -- what an auditor asks (docs/ecs-conventions.md) ----------------------------------------------

def line(**kw) -> bytes:
    doc = {"timestamp": "2026-03-04 05:06:07", "performingUser": "admin", "ipAddress": "203.0.113.9"}
    doc.update(kw)
    return orjson.dumps(doc)


def test_membership_change_names_the_target_user_and_group(assert_ecs):
    [ev] = DatameerParser().parse(line(actionType="USER_MANAGEMENT", action="ADD_USER_TO_GROUP",
                                       groupName="auditors", userName="bob"))
    assert_ecs(ev, "datameer")
    assert ev["user"]["name"] == "admin"
    assert ev["user"]["target"] == {"name": "bob", "group": {"name": "auditors"}}
    assert "group" not in ev and set(ev["related"]["user"]) == {"admin", "bob"}
    assert ev["datameer"]["group_name"] == "auditors" and ev["datameer"]["user_name"] == "bob"
    assert ev["message"] == "admin: USER_MANAGEMENT ADD_USER_TO_GROUP user bob group auditors"


def test_path_of_a_deletion(assert_ecs):
    [ev] = DatameerParser().parse(line(actionType="FILESYSTEM", action="DELETE", **{"file-uuid": "u-1",
                                       "file-path": "/Analytics/Workbooks/salary.wbk"}))
    assert_ecs(ev, "datameer")
    assert ev["file"] == {"path": "/Analytics/Workbooks/salary.wbk", "name": "salary.wbk"}
    assert ev["event"]["type"] == ["deletion"]
    [ev] = DatameerParser().parse(line(actionType="FILESYSTEM", action="DELETE", folderPath="/Old/"))
    assert ev["file"] == {"path": "/Old/", "name": "Old", "type": "dir"}


@pytest.mark.parametrize("status,outcome", [("ERROR", "failure"), ("CANCELED", "failure"), ("COMPLETED", "success"),
                                            ("RUNNING", None)])
def test_outcome_of_a_stopped_job_is_its_status(status, outcome, assert_ecs):
    [ev] = DatameerParser().parse(line(actionType="JOB", action="STOP_EXECUTION", executionId="7",
                                       executionJobStatus=status, executionConfigurationPath="/jobs/nightly.imp"))
    assert_ecs(ev, "datameer")
    assert ev["event"].get("outcome") == outcome
    assert ev["datameer"]["execution_job_status"] == status
    assert ev["file"]["path"] == "/jobs/nightly.imp"


def test_failed_login_actor_is_the_attempted_account(assert_ecs):
    [ev] = DatameerParser().parse(line(actionType="AUTHENTICATION", action="UNABLE_TO_AUTHENTICATE",
                                       performingUser="anonymous", **{"user-name": "mallory"}))
    assert_ecs(ev, "datameer")
    assert ev["user"]["name"] == "mallory" and ev["event"]["outcome"] == "failure"
    assert ev["datameer"]["performing_user"] == "anonymous"
    assert "mallory" in ev["related"]["user"]


def test_time_zone_of_a_zoneless_time():
    raw = line(actionType="AUTHENTICATION", action="LOGOUT")
    ev = DatameerParser({"timezone": "Europe/Berlin"}).parse(raw)[0]
    assert ev["event"]["timezone"] == "Europe/Berlin" and ev["@timestamp"] == "2026-03-04T04:06:07.000Z"
    ev = DatameerParser({"timezone": "Europe/Berlin"}).parse(line(actionType="AUTHENTICATION", action="LOGOUT",
                                                                  timestamp="2026-03-04T05:06:07Z"))[0]
    assert "timezone" not in ev["event"] and ev["@timestamp"] == "2026-03-04T05:06:07.000Z"


def test_object_type_of_a_permission_change(assert_ecs):
    [ev] = DatameerParser().parse(line(actionType="PERMISSION", action="ADD_GROUP_PERMISSION", filePath="/a/b.wbk",
                                       groupName="sales", readPermission="true"))
    assert_ecs(ev, "datameer")
    assert ev["event"]["category"] == ["iam"] and ev["event"]["type"] == ["admin", "change"]
    assert ev["group"] == {"name": "sales"} and ev["file"]["path"] == "/a/b.wbk"
    [ev] = DatameerParser().parse(line(actionType="PERMISSION", action="CHANGE_OWNER", filePath="/a/b.wbk", newOwner="carol"))
    assert ev["user"]["target"] == {"name": "carol"} and "admin" in ev["event"]["type"]


def test_every_iam_entry_names_its_object():
    for r in catalog_rows():
        if "iam" in r["category"].split("|"):
            assert {"user", "group", "admin"} & set(r["type"].split("|")), r


def test_unparsable_line_is_a_pipeline_error():
    [ev] = DatameerParser().parse(b'2026-03-04 05:06:07 INFO {"actionType": "FILESYS')
    assert ev["event"]["kind"] == "pipeline_error" and PARSE_FAILURE in ev["tags"]
    assert ev["event"]["original"] == '2026-03-04 05:06:07 INFO {"actionType": "FILESYS'


def test_zone_id_leaves_source_ip_and_stays_in_the_vendor_field(assert_ecs):
    [ev] = DatameerParser().parse(line(actionType="AUTHENTICATION", action="LOGIN", ipAddress="fe80::1%eth0"))
    assert_ecs(ev, "datameer")
    assert ev["source"]["ip"] == "fe80::1" and ev["datameer"]["ip_address"] == "fe80::1%eth0"
