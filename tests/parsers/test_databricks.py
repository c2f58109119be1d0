"""Azure Databricks parser: the catalogue against the vendor's reference, every action in every record
shape, the real public samples, and bad input."""
from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, example, given, settings, strategies as st

from shipper.ecs import PARSE_FAILURE, UNMAPPED_ACTION
from shipper.ecs_schema import flatten
from shipper_plugins.parsers.databricks import PATH_KEYS, SOURCE_KEYS, DatabricksParser
from tests.parsers.databricks_records import CSV_PATH, ROWS, SHAPES, make_record
from tests.vendor_lists import SAMPLES, databricks_pairs

REPO = Path(__file__).resolve().parents[2]


# -- the catalogue -------------------------------------------------------------------------------


def test_every_documented_pair_is_in_the_catalogue():
    pairs = databricks_pairs()
    assert len(pairs) == 465
    in_csv = {(r["service"], r["action"]) for r in ROWS}
    assert not pairs - in_csv, sorted(pairs - in_csv)
    assert len(in_csv) == len(ROWS), "a pair is listed twice"


def test_catalogue_is_what_the_script_builds_from_the_seed(tmp_path):
    """The page's rows as the catalogue keeps them, classified again by the script's rules: the same file
    (the classification was not edited by hand, and the rules were re-run after a change)."""
    spec = importlib.util.spec_from_file_location("build_cat", REPO / "scripts" / "build_databricks_catalog.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = tmp_path / "cat.csv"
    page_rows = [{k: r[k] for k in ("service", "action", "section", "description", "source")} for r in ROWS]
    n = mod.write(page_rows, out)
    assert n >= 465
    assert out.read_text(encoding="utf-8") == CSV_PATH.read_text(encoding="utf-8"), \
        "databricks_actions.csv is stale: run scripts/build_databricks_catalog.py"


def test_every_category_type_pair_is_ecs_valid(ecs):
    for r in ROWS:
        cats, types = r["category"].split("|"), r["type"].split("|")
        assert cats and types and all(cats) and all(types), r
        for c in cats:
            assert c in ecs.allowed("event.category"), r
            for t in types:
                assert t in ecs.expected_types(c), f"{r['service']}/{r['action']}: {t} not expected with {c}"


# -- generated records, one per catalogue entry, in every shape ----------------------------------
# (made by tests/parsers/databricks_records.py, which bench/corpus.py shares)


def vendor_leaves(value, top: bool = True) -> list:
    """Every scalar the vendor wrote; a field holding a JSON string is opened (not the strings inside it)."""
    if top and isinstance(value, str) and value.startswith("{"):
        try:
            value = json.loads(value)
        except ValueError:
            return [value]
    if isinstance(value, dict):
        return [x for v in value.values() for x in vendor_leaves(v, False)]
    if isinstance(value, list):
        return [x for v in value for x in vendor_leaves(v, False)]
    return [] if value is None or value == "" else [value]  # null and "" say nothing


TIME_KEYS = {"time", "TimeGenerated", "timestamp", "event_time"}


def assert_nothing_lost(rec: dict, ev: dict) -> None:
    shipped = {str(x) for _, v in flatten(ev) for x in (v if isinstance(v, list) else [v])}
    for k, v in list(rec.items()) + list((rec.get("properties") or {}).items() if isinstance(rec.get("properties"), dict) else []):
        if k in TIME_KEYS or k == "properties":
            continue
        for leaf in vendor_leaves(v):
            s = str(leaf).lower() if isinstance(leaf, bool) else str(leaf)
            assert s in shipped or str(leaf) in shipped, f"{k}={leaf!r} lost from {ev}"


def actor_of(ev: dict) -> str:
    return ev["user"].get("name") or ev["user"]["id"]


def check_event(ev: dict, service: str, action: str, exp: dict, status, assert_ecs, row: dict | None) -> None:
    assert_ecs(ev, "databricks")
    assert PARSE_FAILURE not in ev.get("tags", []), ev
    assert ev["@timestamp"] == exp["iso"]
    assert ev["event"]["action"] == f"{service}.{action}" and ev["event"]["provider"] == service
    assert ev["databricks"]["action_name"] == action
    if exp["id"]:
        assert ev["event"]["id"] == exp["id"]
    else:
        assert "id" not in ev["event"]
    code = int(status)
    own = row and row["outcome"]  # the action's own result beats the HTTP status
    assert ev["event"]["outcome"] == (own or ("success" if 200 <= code < 300 else "failure"))
    assert ev["message"].startswith(f"{actor_of(ev)}: {service}.{action}")
    assert ev["cloud"]["provider"] == "azure"
    if row is not None:
        assert ev["event"]["category"] == row["category"].split("|")
        assert ev["event"]["type"] == row["type"].split("|")
        assert UNMAPPED_ACTION not in ev.get("tags", [])
    assert ev["databricks"]["request_id"] != ev["event"].get("id")


@pytest.mark.parametrize("shape", SHAPES)
def test_every_catalogue_entry_in_every_shape(shape, assert_ecs):
    parser = DatabricksParser()
    for n, row in enumerate(ROWS):
        raw, exp = make_record(row["service"], row["action"], shape, n=n)
        events = parser.parse(raw)
        assert len(events) == 1, events
        ev = events[0]
        check_event(ev, row["service"], row["action"], exp, 200, assert_ecs, row)
        assert ev["user"]["name"] == "ada@example.com" and ev["user"]["email"] == "ada@example.com"
        assert ev["source"]["ip"] == "10.1.2.3" and ev["databricks"]["source_ip_address"] == "10.1.2.3:0"
        assert ev["databricks"]["request_params"] == {"name": f"obj-{n}", "nested": '{"a":1}'}
        rec = exp["rec"]
        assert_nothing_lost(rec, ev)


ips = st.one_of(st.none(), st.just(""), st.ip_addresses(v=4).map(str),
                st.tuples(st.ip_addresses(v=4), st.integers(0, 65535)).map(lambda t: f"{t[0]}:{t[1]}"),
                st.ip_addresses(v=6).map(str), st.just("not-an-ip"))
emails = st.one_of(st.just("System-User"), st.emails(), st.uuids().map(str), st.text(min_size=1, max_size=20))
param_values = st.one_of(st.text(max_size=30), st.text(max_size=30).map(lambda s: s + "... truncated"))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(row=st.sampled_from(ROWS), shape=st.sampled_from(SHAPES), status=st.sampled_from([200, 201, 204, 400, 403, 404, 500]),
       ip=ips, email=emails, params=st.dictionaries(st.text(min_size=1, max_size=10), param_values, max_size=5),
       error=st.one_of(st.none(), st.text(min_size=1, max_size=40)))
def test_generated_records_keep_actor_time_outcome_id(row, shape, status, ip, email, params, error, assert_ecs):
    raw, exp = make_record(row["service"], row["action"], shape, status=status, ip=ip, email=email,
                           params=params, error=error)
    (ev,) = DatabricksParser().parse(raw)
    check_event(ev, row["service"], row["action"], exp, status, assert_ecs, row)
    if re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", email):
        assert ev["user"] == {"id": email}  # a service principal: its application id
    else:
        assert ev["user"]["name"] == email
    assert ev["databricks"]["actor_type"] == ("system" if email == "System-User" else ev["databricks"]["actor_type"])
    if email == "System-User":
        assert "System-User" not in ev.get("related", {}).get("user", [])
    assert ev["databricks"]["request_params"] == params
    truncated = any(v.endswith("... truncated") for v in params.values())
    assert ev["databricks"].get("request_params_truncated", False) == truncated
    if ip and ":" in ip and "." in ip:
        assert ev["source"]["ip"] == ip.split(":")[0]
    if ip in (None, "", "not-an-ip"):
        assert "source" not in ev
    if error and status >= 300:
        assert ev["error"]["message"] == error
    rec = exp["rec"]
    assert_nothing_lost(rec, ev)


def test_request_params_values_stay_out_of_ecs_fields(assert_ecs):
    """Only the documented targets are promoted (test_targets_are_promoted); the rest stays vendor's."""
    marker = "MARKER-7f3a"
    params = {"user": marker, "sourceIpAddress": "192.0.2.99", "email": marker + "@x.y"}
    for shape in SHAPES:
        raw, _ = make_record("accounts", "add", shape, params=params)
        (ev,) = DatabricksParser().parse(raw)
        assert_ecs(ev, "databricks")
        outside = {k: v for k, v in ev.items() if k != "databricks"}
        flat = {str(v) for _, v in flatten(outside)}
        assert not any(marker in s or "192.0.2.99" in s for s in flat), outside
        assert ev["databricks"]["request_params"] == params


def test_truncated_marker_key_kept():
    raw, _ = make_record("clusters", "create", "diagnostic_strings", params={"TRUNCATED": ""})
    (ev,) = DatabricksParser().parse(raw)
    assert ev["databricks"]["request_params"] == {"TRUNCATED": ""}
    assert ev["databricks"]["request_params_truncated"] is True


def test_event_hub_payload_gives_one_event_per_record(assert_ecs):
    recs = [orjson.loads(make_record("jobs", "runNow", "diagnostic", n=i)[0]) for i in range(5)]
    recs.insert(2, "not a record")
    events = DatabricksParser().parse(orjson.dumps({"records": recs}))
    assert len(events) == 6
    ids = [e["event"].get("id") for e in events]
    assert ids[2] is None and PARSE_FAILURE in events[2]["tags"]
    assert len({i for i in ids if i}) == 5
    for ev in events:
        assert_ecs(ev, "databricks")


def test_unknown_pair_is_shipped_tagged(assert_ecs):
    raw, exp = make_record("newService", "doSomethingNew", "diagnostic")
    (ev,) = DatabricksParser().parse(raw)
    assert_ecs(ev, "databricks")
    assert UNMAPPED_ACTION in ev["tags"] and PARSE_FAILURE not in ev["tags"]
    assert ev["event"]["id"] == exp["id"] and "category" not in ev["event"]


def test_identity_metadata_run_as_is_the_effective_user(assert_ecs):
    raw, _ = make_record("jobs", "runStart", "system_table")
    rec = orjson.loads(raw)
    rec["identity_metadata"] = json.dumps({"run_by": "ada@example.com", "run_as": "etl-sp", "acting_resource": None})
    (ev,) = DatabricksParser().parse(orjson.dumps(rec))
    assert_ecs(ev, "databricks")
    assert ev["user"]["effective"]["name"] == "etl-sp"
    assert {"ada@example.com", "etl-sp"} <= set(ev["related"]["user"])


# -- the real public samples ---------------------------------------------------------------------

DATABRICKS_SAMPLES = {
    "diagnostic-jobs-runSucceeded-stringified-fields.jsonl": ("jobs", "runSucceeded", "00000000-0000-0000-0000-000000000028", "System-User"),
    "eventhub-records-accounts-aadBrowserLogin.json": ("accounts", "aadBrowserLogin", "c4b0ab3e-cd1e-3952-97ea-c35e37b7b271",
                                                       "vuong.nguyen@databricks.com"),
    "log-analytics-DatabricksJobs-docs-sample.json": ("jobs", "create", "201b6d83-396a-4f3c-9dee-65c971ddeb2b", "mail@contoso.com"),
    "system-access-audit-row-sumologic-sample.json": ("accounts", "tokenLogin", "3dd93080-f90f-3ea4-8870-6b7527b77393",
                                                      "ddb92362-81fa-4f41-b5d3-e5a747e0b2f5"),
}


@pytest.mark.parametrize("name", sorted(DATABRICKS_SAMPLES))
def test_real_samples(name, assert_ecs):
    raw = (SAMPLES / "azure_databricks" / name).read_bytes()
    events = DatabricksParser().parse(raw)
    assert len(events) == 1
    ev = events[0]
    service, action, log_id, actor = DATABRICKS_SAMPLES[name]
    assert_ecs(ev, "databricks")
    assert not ev.get("tags"), ev
    assert (ev["event"]["provider"], ev["databricks"]["action_name"], ev["event"]["id"]) == (service, action, log_id)
    assert ev["event"]["action"] == f"{service}.{action}"
    assert actor_of(ev) == actor and ev["event"]["outcome"] == "success"
    doc = orjson.loads(raw)
    rec = doc["records"][0] if "records" in doc else doc
    assert_nothing_lost(rec, ev)


def test_real_sample_details():
    d = SAMPLES / "azure_databricks"
    (ev,) = DatabricksParser().parse((d / "diagnostic-jobs-runSucceeded-stringified-fields.jsonl").read_bytes())
    assert ev["databricks"]["actor_type"] == "system" and "source" not in ev
    assert ev["databricks"]["request_params"]["jobTriggerType"] == "cron"
    assert ev["@timestamp"] == "2025-05-15T15:58:35.000Z"
    (ev,) = DatabricksParser().parse((d / "eventhub-records-accounts-aadBrowserLogin.json").read_bytes())
    assert ev["source"]["ip"] == "18.193.11.166" and ev["related"]["ip"] == ["18.193.11.166"]
    assert ev["event"]["category"] == ["authentication"] and ev["event"]["type"] == ["start"]


@pytest.mark.parametrize("name", ["azure-monitor-storage-PT1H-line-format-NON-DATABRICKS.jsonl",
                                  "azure-monitor-eventhub-records-envelope-NON-DATABRICKS.json"])
def test_other_azure_services_are_shipped_flagged(name, assert_ecs):
    raw = (SAMPLES / "azure_databricks" / name).read_bytes()
    events = DatabricksParser().parse(raw)
    assert events
    for ev in events:
        assert_ecs(ev, "databricks")
        assert PARSE_FAILURE in ev["tags"] and "missing serviceName" in ev["error"]["message"]
        assert ev["event"]["original"] and ev["databricks"]["resource_id"]


# -- bad input -----------------------------------------------------------------------------------


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_never_raise(assert_ecs, data):
    for ev in DatabricksParser().parse(data):
        assert_ecs(ev, "databricks")
        assert PARSE_FAILURE in ev.get("tags", []) or ev["event"].get("action")


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
                           lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=3),
                           max_leaves=10)
keys = st.sampled_from(["time", "TimeGenerated", "timestamp", "event_time", "identity", "userIdentity", "user_identity",
                        "serviceName", "actionName", "service_name", "action_name", "logId", "event_id", "response",
                        "requestParams", "request_params", "sourceIPAddress", "properties", "identity_metadata",
                        "records", "userAgent"]) | st.text(max_size=8)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(keys, json_values, max_size=8))
def test_arbitrary_json_objects_never_raise(assert_ecs, doc):
    raw = json.dumps(doc).encode()  # json, not orjson: integers beyond 64 bits must reach the parser too
    for ev in DatabricksParser().parse(raw):
        assert_ecs(ev, "databricks")


def _as_read(v):
    if isinstance(v, int) and not isinstance(v, bool) and not -(2 ** 63) <= v < 2 ** 63:
        return str(v)
    if isinstance(v, list):
        return [_as_read(x) for x in v]
    if isinstance(v, dict):
        return {k: _as_read(x) for k, x in v.items()}
    return v


@settings(max_examples=200, deadline=None)
@given(json_values.filter(lambda v: v is not None and not isinstance(v, dict)
                          and not (isinstance(v, str) and v.strip().startswith("{"))))
def test_properties_that_are_no_object_are_kept_as_written(assert_ecs, value):
    """`properties` is the diagnostic record's object (or JSON text of one). Anything else is no
    routing information, but it is the vendor's data: shipped as written, never dropped."""
    raw = json.dumps({"time": "2025-01-01T00:00:00Z", "serviceName": "jobs", "actionName": "create",
                      "properties": value}).encode()
    (ev,) = DatabricksParser().parse(raw)
    assert_ecs(ev, "databricks")
    if PARSE_FAILURE in ev.get("tags", ()):  # beyond what orjson reads (64-bit integers): the line is kept
        assert ev["event"]["original"] == raw.decode()
    else:  # an integer past Elasticsearch's long is kept as its exact digits (shipper.exact_json)
        assert ev["databricks"]["properties"] == _as_read(value)


def test_blank_line_and_broken_json():
    p = DatabricksParser()
    assert p.parse(b"  \n") == []
    (ev,) = p.parse(b'{"time": "2025-01-01T00:00:00Z", "properties": {')
    assert PARSE_FAILURE in ev["tags"] and ev["event"]["original"].startswith('{"time"')


def test_demo_samples(assert_ecs):
    events = []
    for path in sorted((REPO / "config" / "samples" / "databricks").rglob("*.json")):
        for line in path.read_bytes().splitlines():
            events += DatabricksParser().parse(line)
    assert len(events) == 12
    for ev in events:
        assert_ecs(ev, "databricks")
        assert PARSE_FAILURE not in ev.get("tags", [])
    assert [ev["event"]["action"] for ev in events if UNMAPPED_ACTION in ev.get("tags", [])] == ["accounts.brandNewAction"]


def test_time_shortcut_does_not_mistake_true_for_one():
    """The 'same time as the last record' shortcut must compare types too: True == 1 in Python."""
    p = DatabricksParser()
    assert p._time(1) is not None
    assert p._time(True) is None


def test_parse_batch_says_what_parse_says(monkeypatch):
    """parse_batch maps the usual line without parse's frame: every kind of line must come out the same,
    a mapping that raises included (shipped flagged, the record kept)."""
    import shipper.ecs as ecs_mod
    import shipper_plugins.parsers.databricks as dbmod

    monkeypatch.setattr(ecs_mod, "now_iso", lambda: "2000-01-01T00:00:00.000Z")
    monkeypatch.setattr(dbmod, "now_iso", lambda: "2000-01-01T00:00:00.000Z")
    lines = [make_record("jobs", "create", shape, n=i)[0] for i, shape in enumerate(SHAPES)]
    lines += [b"", b"  ", b"{broken", b"42", b"[1, {}]", b'{"records": [1, {}]}', b'{"boom": 1, "time": 5}']
    real_map = DatabricksParser._map

    def failing_map(self, rec, raw, envelope):
        if "boom" in rec:
            raise RuntimeError("mapping bug")
        return real_map(self, rec, raw, envelope)

    monkeypatch.setattr(DatabricksParser, "_map", failing_map)
    batch = DatabricksParser().parse_batch(lines)
    single = [DatabricksParser().parse(line) for line in lines]
    assert orjson.dumps(batch) == orjson.dumps(single)
    (boom,) = batch[-1]
    assert PARSE_FAILURE in boom["tags"] and "mapping bug" in boom["error"]["message"]
    assert len(batch) == len(lines) and all(len(evs) == 1 for evs in batch[:len(SHAPES)])


# -- what an auditor asks (docs/ecs-conventions.md) ----------------------------------------------


@pytest.mark.parametrize("shape", SHAPES)
def test_membership_change_names_the_target_user_and_group(shape, assert_ecs):
    params = {"targetUserName": "bob@example.com", "targetUserId": "123", "targetGroupName": "admins",
              "targetGroupId": "77", "endpoint": "scim"}
    raw, _ = make_record("accounts", "addPrincipalToGroup", shape, params=params)
    (ev,) = DatabricksParser().parse(raw)
    assert_ecs(ev, "databricks")
    assert ev["user"]["name"] == "ada@example.com"  # the actor stays the actor
    assert ev["user"]["target"] == {"id": "123", "name": "bob@example.com", "email": "bob@example.com",
                                    "group": {"id": "77", "name": "admins"}}
    assert "bob@example.com" in ev["related"]["user"] and "ada@example.com" in ev["related"]["user"]
    assert ev["databricks"]["request_params"] == params  # the vendor's fields kept
    assert ev["event"]["type"] == ["group", "change"] and ev["event"]["category"] == ["iam"]
    assert "bob@example.com" in ev["message"] and "admins" in ev["message"]



_TARGET_VALUES = {"targetUserName": "bob@example.com", "targetUserId": "123", "targetServicePrincipal": "sp-1",
                  "targetGroupName": "ops", "targetGroupId": "9", "principal": "bob@example.com",
                  "changes": '[{"principal": "bob@example.com", "add": ["SELECT"]}]', "runCreatorUserName": "bob",
                  "owner": "bob@example.com", "share_owner": "bob@example.com"}


@pytest.mark.parametrize("key", [*_TARGET_VALUES, *PATH_KEYS, *SOURCE_KEYS])
def test_each_request_key_promoted_is_one_the_parser_looks_for(key):
    """_targets returns at once for a request that names none of the keys it reads (issue 19: ~18 calls of
    _str on None a record): each such key alone still promotes its target, path or related user, so none is
    missing from the set it tests. A source key goes with a destination (`dst`), not alone."""
    params = {key: _TARGET_VALUES.get(key, "/Users/bob@example.com/nb"), "endpoint": "x"}
    if key in SOURCE_KEYS and key not in PATH_KEYS:
        params["dst"] = "/Users/bob@example.com/moved"
    (ev,) = DatabricksParser().parse(make_record("workspace", "move", "diagnostic", params=params)[0])
    (bare,) = DatabricksParser().parse(make_record("workspace", "move", "diagnostic", params={"endpoint": "x"})[0])
    promoted = {k: ev.get(k) for k in ("user", "group", "file", "related") if ev.get(k) != bare.get(k)}
    assert promoted, key
    if key in SOURCE_KEYS and key not in PATH_KEYS:
        assert ev["databricks"]["source_path"] == "/Users/bob@example.com/nb"

@pytest.mark.parametrize("key", ["user", "userName", "approver"])
def test_each_login_request_key_is_one_the_parser_looks_for(key):
    """A request's key set is planned once (issue 19: _request_plan; a login's request with none of the keys
    _login_account reads skips its call): the attempted account or the approver under each key it reads is still
    a related user."""
    raw, _ = make_record("accounts", "login", "diagnostic", email="", status=401,
                         params={key: "mallory@example.com", "endpoint": "x"})
    (ev,) = DatabricksParser().parse(raw)
    assert "mallory@example.com" in ev["related"]["user"]


# Keys of every kind a request plan tells apart (targets, logins, outcomes, objects) and one of none.
_PLANNED_KEYS = ["targetUserName", "targetGroupName", "principal", "path", "dst", "src", "owner", "user", "userName",
                 "approver", "is_ip_access_denied", "jobTerminalState", "job_id", "jobId", "run_id", "cluster_id",
                 "clusterId", "notebookId", "full_name_arg", "orgId", "endpoint"]
_planned_values = st.sampled_from(["", "x", "ada@example.com", "/Users/ada@example.com/nb", "Failed", "true", "7",
                                   "01234567-89ab-cdef-0123-456789abcdef"]) | st.integers(0, 9) | st.none()


@settings(deadline=None, max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.dictionaries(st.sampled_from(_PLANNED_KEYS), _planned_values, max_size=5), min_size=1, max_size=8),
       st.sampled_from([("accounts", "login"), ("jobs", "runFailed"), ("clusters", "delete"), ("workspace", "move")]))
def test_a_request_plan_is_its_key_sets_own(requests, action):
    """One parser reading requests of many key sets in turn (its plans memoised per key set) gives each record the
    event a fresh parser gives it."""
    shared = DatabricksParser()
    for n, params in enumerate(requests):
        raw, _ = make_record(*action, "diagnostic", n=n, email="", params=params)
        assert orjson.dumps(shared.parse(raw)) == orjson.dumps(DatabricksParser().parse(raw)), params


_response_values = st.sampled_from([200, 200.0, 1, 1.0, True, False, "200", "1", "", None, "denied", '{"ok":true}',
                                    [1], {"ok": True}, {"ok": 1}])


@settings(deadline=None, max_examples=80, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.dictionaries(st.sampled_from(["statusCode", "errorMessage", "result", "errorCode"]), _response_values,
                                max_size=3), min_size=1, max_size=8))
@example([{"statusCode": 1}, {"statusCode": True}])
@example([{"statusCode": 200, "errorMessage": 1}, {"statusCode": 200, "errorMessage": 1.0}])
@example([{"statusCode": 200, "result": {"ok": 1}}, {"statusCode": 200, "result": {"ok": True}}])
def test_a_response_object_memoised_is_its_own(responses):
    """Response objects are memoised by their JSON (issue 19): one parser reading many in turn gives each record
    the event a fresh parser gives it, byte for byte: true is not 1 (equal in Python), 1.0 not 1, a nested result
    not another's."""
    shared = DatabricksParser()
    for n, response in enumerate(responses):
        rec = orjson.loads(make_record("clusters", "delete", "diagnostic", n=n)[0])
        rec["properties"]["response"] = response
        raw = orjson.dumps(rec)
        assert orjson.dumps(shared.parse(raw)) == orjson.dumps(DatabricksParser().parse(raw)), response


def test_group_alone_is_the_group():
    raw, _ = make_record("groups", "createGroup", "diagnostic", params={"targetGroupName": "ops", "targetGroupId": "9"})
    (ev,) = DatabricksParser().parse(raw)
    assert ev["group"] == {"id": "9", "name": "ops"} and "target" not in ev["user"]


@pytest.mark.parametrize("service,action,key,path,name", [
    ("workspace", "delete", "path", "/Users/ada@example.com/old notebook", "old notebook"),
    ("dbfs", "delete", "path", "dbfs:/mnt/raw/2025/part-0001.parquet", "part-0001.parquet"),
    ("dbfs", "rename", "dst", "/mnt/new/place.csv", "place.csv"),
    ("notebook", "deleteFolder", "path", "/Shared/reports/", "reports"),
])
def test_path_of_a_file_action(service, action, key, path, name, assert_ecs):
    params = {key: path, "recursive": "true"}
    if key == "dst":
        params["src"] = "/mnt/old/place.csv"
    raw, _ = make_record(service, action, "system_table", params=params)
    (ev,) = DatabricksParser().parse(raw)
    assert_ecs(ev, "databricks")
    assert ev["file"] == {"path": path, "name": name}
    assert ev["databricks"]["request_params"] == params


def test_failed_job_run_with_http_200_is_a_failure(assert_ecs):
    params = {"jobId": "7", "runId": "8", "jobTerminalState": "Failed"}
    for shape in SHAPES:
        raw, _ = make_record("jobs", "runFailed", shape, params=params, status=200)
        (ev,) = DatabricksParser().parse(raw)
        assert_ecs(ev, "databricks")
        assert ev["event"]["outcome"] == "failure", shape
        assert ev["databricks"]["response"]["status_code"] == 200  # the vendor's status kept


def test_terminal_state_beats_the_status_and_the_name():
    raw, _ = make_record("jobs", "runSucceeded", "diagnostic", params={"jobTerminalState": "Failed"})
    assert DatabricksParser().parse(raw)[0]["event"]["outcome"] == "failure"
    raw, _ = make_record("jobs", "runTriggered", "diagnostic", params={"jobTerminalState": "Succeeded"}, status=500)
    assert DatabricksParser().parse(raw)[0]["event"]["outcome"] == "success"


@pytest.mark.parametrize("service,action", [("accounts", "IpAccessDenied"), ("accounts", "accountIpAclsValidationFailed"),
                                            ("unityCatalog", "deleteResourceFailure")])
def test_denied_or_failed_action_with_http_200_is_a_failure(service, action, assert_ecs):
    raw, _ = make_record(service, action, "diagnostic", status=200)
    (ev,) = DatabricksParser().parse(raw)
    assert_ecs(ev, "databricks")
    assert ev["event"]["outcome"] == "failure"


def test_workspace_account_and_cloud_on_every_shape(assert_ecs):
    want = {
        "diagnostic": {"provider": "azure", "account": {"id": "SUB-1"}, "project": {"id": "99", "name": "WS"}},
        "diagnostic_strings": {"provider": "azure", "account": {"id": "SUB-1"}, "project": {"id": "99", "name": "WS"}},
        "eventhub": {"provider": "azure", "account": {"id": "SUB-1"}, "project": {"id": "99", "name": "WS"}},
        "log_analytics": {"provider": "azure", "account": {"id": "SUB-1"}, "project": {"id": "99"}},
        "audit_delivery": {"provider": "azure", "project": {"id": "42"}},
        "system_table": {"provider": "azure", "project": {"id": "4150696479394378"}},
    }
    for shape, cloud in want.items():
        raw, _ = make_record("clusters", "create", shape, params={"orgId": "99"})
        (ev,) = DatabricksParser().parse(raw)
        assert_ecs(ev, "databricks")
        assert ev["cloud"] == cloud, shape
        if shape in ("audit_delivery", "system_table"):
            assert ev["organization"] == {"id": "acc-1"}


def test_account_level_event_has_no_workspace():
    raw, _ = make_record("accounts", "login", "system_table")
    rec = orjson.loads(raw)
    rec["workspace_id"] = "0"
    (ev,) = DatabricksParser().parse(orjson.dumps(rec))
    assert ev["cloud"] == {"provider": "azure"} and ev["databricks"]["workspace_id"] == "0"


def test_service_principal_is_a_user_id():
    raw = (SAMPLES / "azure_databricks" / "system-access-audit-row-sumologic-sample.json").read_bytes()
    (ev,) = DatabricksParser().parse(raw)
    assert ev["user"] == {"id": "ddb92362-81fa-4f41-b5d3-e5a747e0b2f5"}
    assert ev["databricks"]["actor_type"] == "service_principal"
    assert ev["cloud"]["project"]["id"] == "4150696479394378"
    assert ev["organization"]["id"] == "83860f25-7194-4d0c-a304-8902b05c4b0e"


def test_same_action_name_in_two_services_is_two_actions():
    a = DatabricksParser().parse(make_record("clusters", "delete", "diagnostic")[0])[0]["event"]["action"]
    b = DatabricksParser().parse(make_record("jobs", "delete", "diagnostic")[0])[0]["event"]["action"]
    assert (a, b) == ("clusters.delete", "jobs.delete")


def test_every_iam_entry_names_its_object():
    for r in ROWS:
        if "iam" in r["category"].split("|"):
            assert {"user", "group", "admin"} & set(r["type"].split("|")), r


def test_zone_id_leaves_source_ip_and_stays_in_the_vendor_field(assert_ecs):
    raw, _ = make_record("accounts", "login", "audit_delivery", ip="fe80::1%eth0")
    (ev,) = DatabricksParser().parse(raw)
    assert_ecs(ev, "databricks")
    assert ev["source"]["ip"] == "fe80::1" and ev["databricks"]["source_ip_address"] == "fe80::1%eth0"


def test_unparsable_line_is_a_pipeline_error():
    (ev,) = DatabricksParser().parse(b'{"serviceName": "accounts", "actionName": ')
    assert ev["event"]["kind"] == "pipeline_error" and PARSE_FAILURE in ev["tags"]
    assert ev["event"]["original"] == '{"serviceName": "accounts", "actionName": '


@pytest.mark.parametrize("principal,where", [
    ("bob@example.com", {"user": {"name": "ada@example.com", "email": "ada@example.com",
                                  "target": {"name": "bob@example.com", "email": "bob@example.com"}}}),
    ("8f2c1d3e-0000-4000-8000-000000000001", {"user": {"name": "ada@example.com", "email": "ada@example.com",
                                                       "target": {"id": "8f2c1d3e-0000-4000-8000-000000000001"}}}),
    ("data-engineers", {"group": {"name": "data-engineers"}}),
])
def test_grantee_of_an_acl_or_ownership_change(principal, where, assert_ecs):
    for service, action in (("secrets", "putAcl"), ("sqlPermissions", "changeSecurableOwner")):
        raw, _ = make_record(service, action, "diagnostic", params={"scope": "s", "securable": "t", "principal": principal})
        (ev,) = DatabricksParser().parse(raw)
        assert_ecs(ev, "databricks")
        for k, v in where.items():
            assert ev[k] == v, (service, action)
        assert ev["databricks"]["request_params"]["principal"] == principal
    assert "admin" in ev["event"]["type"]  # ownership: iam admin|change


@pytest.mark.parametrize("shape", SHAPES)
def test_failed_login_names_the_attempted_account(shape, assert_ecs):
    raw, _ = make_record("accounts", "login", shape, email="", status=401, params={"user": "mallory@example.com"})
    (ev,) = DatabricksParser().parse(raw)
    assert_ecs(ev, "databricks")
    assert ev["user"]["name"] == "mallory@example.com" and ev["event"]["outcome"] == "failure"
    assert ev["event"]["category"] == ["authentication"] and "mallory@example.com" in ev["related"]["user"]
    assert ev["databricks"]["request_params"]["user"] == "mallory@example.com"


def test_login_keeps_the_identity_as_actor():
    raw, _ = make_record("accounts", "tokenLogin", "system_table", params={"user": "svc@example.com", "tokenId": "t"})
    (ev,) = DatabricksParser().parse(raw)
    assert ev["user"]["name"] == "ada@example.com" and "svc@example.com" in ev["related"]["user"]
