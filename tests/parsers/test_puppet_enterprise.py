"""Puppet Enterprise activity parser: the real samples, every event kind of the seed, broken input."""
from __future__ import annotations

import csv
import re
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from shipper.ecs import PARSE_FAILURE, UNMAPPED_ACTION
from shipper_plugins.parsers.puppet_enterprise import CATALOG_PATH, CLASSES, PuppetEnterpriseParser
from tests.support import bytes_kept_by_parser
from tests.vendor_lists import SAMPLES, puppet_enterprise_rows

P = PuppetEnterpriseParser()
NS = "puppet_enterprise"


@pytest.fixture(scope="module")
def samples() -> Path:
    return SAMPLES / "puppet_enterprise"


def catalogue() -> list[dict]:
    with open(CATALOG_PATH, encoding="utf-8") as f:
        return list(csv.DictReader(l for l in f if not l.startswith("#")))


def record(commit: dict, service: str = "rbac", api: str = "v2") -> bytes:
    return orjson.dumps({"service_id": service, "api_version": api, "commit": commit})


def v1_commit(message: str, obj: dict | None = None) -> dict:
    return {"object": obj or {"id": "973c0cee-5ed3-11e4-aa15-123b93f75cba", "name": "jean"},
            "subject": {"id": "42bf351c-f9ec-40af-84ad-e976fec7f4bd", "name": "admin"},
            "timestamp": "2019-03-05T18:52:27Z", "events": [{"message": message}]}


def one(raw: bytes) -> dict:
    evs = P.parse(raw)
    assert len(evs) == 1
    return evs[0]


# --- the real samples ---------------------------------------------------------------------------------

def test_v1_sample_delete_group(samples, assert_ecs):
    doc = orjson.loads((samples / "v1-events-classifier-delete-group.docs-archive-2019.1.json").read_bytes())
    ev = one(record(doc["commits"][0], "classifier", "v1"))
    assert_ecs(ev, NS)
    assert ev["@timestamp"] == "2019-03-05T18:52:27.000Z"
    assert ev["user"] == {"id": "6868e4af-2996-46c6-8e42-1ae873f8a0ba", "name": "kai.evens"}
    assert ev["message"].startswith('Deleted the "web_servers" group')
    assert (ev["event"]["category"], ev["event"]["type"]) == (["configuration"], ["deletion"])
    assert ev["puppet_enterprise"]["objects"] == [{"id": "b55c209d-e68f-4096-9a2c-5ae52dd2500c", "name": "web_servers"}]
    assert ev["puppet_enterprise"]["details"]["node_group_id"] == "b55c209d-e68f-4096-9a2c-5ae52dd2500c"
    assert ev["service"]["name"] == "classifier" and "tags" not in ev


def test_v1_sample_scheduled_task_on_a_node(samples, assert_ecs):
    doc = orjson.loads((samples / "v1-events-pe-console-scheduled-job.docs-archive-2019.1.json").read_bytes())
    ev = one(record(doc["commits"][0], "pe-console", "v1"))
    assert_ecs(ev, NS)
    assert (ev["event"]["category"], ev["event"]["type"]) == (["process"], ["start"])
    assert ev["puppet_enterprise"]["details"] == {"scheduled_job_id": "3", "task": "facter_task",
                                                  "node": "emerald-1.platform9.mydomain.edu", "job_id": "7,759"}
    assert "target" not in ev["user"]  # the object is a node, not a user


@pytest.mark.parametrize("name", ["v1-events-classifier-kai.docs-2019.8.json", "v2-events.pe_client-docs-transcribed.json"])
def test_a_saved_response_page_gives_one_event_per_event(samples, assert_ecs, name):
    evs = P.parse(orjson.dumps(orjson.loads((samples / name).read_bytes())))
    assert [e["message"] for e in evs] == ["Create Node", "Create Node Class"]
    for i, ev in enumerate(evs):
        assert_ecs(ev, NS)
        assert ev["user"]["name"] == "Kai Evans" and ev["@timestamp"] == "2014-06-24T04:00:00.000Z"
        assert ev["puppet_enterprise"]["commit"]["event_index"] == i
        assert (ev["event"]["category"], ev["event"]["type"]) == (["configuration"], ["creation"])


def csv_rows(path: Path) -> list[dict]:
    text = path.read_text(encoding="utf-8").replace("\\_", "_")  # markdown escapes in the published sample
    return list(csv.DictReader(text.splitlines()))


@pytest.mark.parametrize("name", ["v1-events.docs-archive-2019.1.csv", "v2-events.docs-current.csv"])
def test_csv_export_rows_classify_the_same_by_type_what_and_by_message(samples, assert_ecs, name):
    """The CSV exports show each event's type/what/description and message: v2 (type/what) and v1
    (message only) must land on the same ECS classification."""
    for row in csv_rows(samples / name):
        base = {"subject": {"id": row["Subject Id"], "name": row["Subject Name"], "type": row["Subject Type"]},
                "objects": [{"id": row["Object Id"], "name": row["Object Name"], "type": row["Object Type"]}],
                "timestamp": "2019-03-05T18:52:27Z"}
        if row.get("Ip Address"):
            base["ip_address"] = row["Ip Address"]
        v2 = one(record({**base, "events": [{"type": row["Type"], "what": row["What"],
                                             "description": row["Description"], "message": row["Message"]}]},
                        "classifier"))
        v1 = one(record({**base, "objects": None, "object": base["objects"][0],
                         "events": [{"message": row["Message"]}]}, "classifier", "v1"))
        for ev in (v1, v2):
            assert_ecs(ev, NS)
            assert UNMAPPED_ACTION not in ev.get("tags", []), row
        assert (v1["event"]["category"], v1["event"]["type"]) == (v2["event"]["category"], v2["event"]["type"]), row
        # event.action is the kind (bounded); the vendor's description stays where it was written
        assert v2["event"]["action"] == v1["event"]["action"] == v2["puppet_enterprise"]["kind"]
        assert v2["puppet_enterprise"]["event"]["description"] == row["Description"]
        assert v2["puppet_enterprise"]["event"] == {"type": row["Type"], "what": row["What"],
                                                    "description": row["Description"]}
        assert v2["message"] == row["Message"]
        if row.get("Ip Address"):
            assert v2["source"]["ip"] == row["Ip Address"] and row["Ip Address"] in v2["related"]["ip"]


def test_gist_rows_from_the_activity_database(samples, assert_ecs):
    lines = (samples / "pe-activity-db-psql-output.gist.txt").read_text().splitlines()[2:]
    for line in lines:
        stamp, subject, obj, message = [x.strip() for x in line.split("|", 3)]
        ev = one(record({"subject": {"id": "x", "name": subject}, "object": {"id": obj, "name": obj},
                         "timestamp": stamp.replace(" ", "T").replace("+00", "+00:00"), "events": [{"message": message}]},
                        "rbac", "v1"))
        assert_ecs(ev, NS)
        assert UNMAPPED_ACTION not in ev.get("tags", [])
        if "logged in" in message:
            assert (ev["event"]["category"], ev["event"]["type"], ev["event"]["outcome"]) == \
                (["authentication"], ["start"], "success")
            assert "Administrator" in ev["related"]["user"]
    assert ev["@timestamp"] == "2017-04-04T21:14:41.776Z"


# --- the seed: every documented event kind ---------------------------------------------------------------

def test_every_event_kind_of_the_seed_is_classified(assert_ecs):
    rows = puppet_enterprise_rows()
    assert len(rows) == 19  # user 7, token 3, group 2, role 3, orchestrator 2, directory 2
    cat = catalogue()
    for section, line in rows:
        claims = [r for r in cat if r["section"] == section and r["seed_name"] and line.startswith(r["seed_name"] + " ")
                  and r["example"] and r["example"] in line]
        assert claims, f"seed row not in the catalogue: [{section}] {line}"
        # The longest seed name wins ("Revocation by username" over "Revocation").
        row = max(claims, key=lambda r: len(r["seed_name"]))
        obj_type = {"group": "user_groups", "role": "roles"}.get(section)
        for commit, api in ((v1_commit(row["example"]), "v1"),
                            ({**v1_commit(row["example"]), "object": None,
                              "objects": [{"id": "o", "name": "o", "type": obj_type}] if obj_type else []}, "v2")):
            ev = one(record(commit, api=api))
            assert_ecs(ev, NS)
            got = ("|".join(ev["event"].get("category", [])), "|".join(ev["event"].get("type", [])))
            assert got == (row["category"], row["type"]), f"[{section}] {line} ({api}) → {got}"
            if row["outcome"]:
                assert ev["event"]["outcome"] == row["outcome"]


def test_role_delete_is_known_by_type_or_by_object_type(assert_ecs):
    seed_mentions = "records a Delete event when a role is removed"
    assert any(r["kind"] == "role_deleted" for r in catalogue()), seed_mentions
    for event, objects in (({"type": "delete", "what": "role", "message": "Deleted role Operators"}, []),
                           ({"type": "delete", "what": "x", "message": "Deleted"}, [{"id": "3", "name": "Operators", "type": "roles"}])):
        ev = one(record({**v1_commit(""), "object": None, "objects": objects, "events": [event]}))
        assert_ecs(ev, NS)
        assert (ev["event"]["category"], ev["event"]["type"]) == (["iam"], ["admin", "deletion"])


def test_each_catalogue_example_is_matched_by_its_own_row():
    for row in catalogue():
        if row["message_regex"] and row["example"]:
            assert re.search(row["message_regex"], row["example"], re.IGNORECASE), row["kind"]
    kinds: dict[str, tuple] = {}
    for row in catalogue():
        assert kinds.setdefault(row["kind"], (row["category"], row["type"])) == (row["category"], row["type"])


# --- where things go ------------------------------------------------------------------------------------

def test_role_membership_names_the_target_user_and_role(assert_ecs):
    ev = one(record(v1_commit("User Jean Jackson (973c0cee-5ed3-11e4-aa15-123b93f75cba) added to role Operators.",
                              {"id": "1", "name": "Operators"})))
    assert_ecs(ev, NS)
    assert ev["user"]["target"] == {"name": "Jean Jackson", "id": "973c0cee-5ed3-11e4-aa15-123b93f75cba",
                                    "group": {"name": "Operators"}}  # the role: conventions, "Membership"
    assert ev["puppet_enterprise"]["details"] == {"change": "added to", "role": "Operators"}
    assert {"admin", "Jean Jackson"} <= set(ev["related"]["user"])


def test_group_role_membership_and_group_objects_go_to_group(assert_ecs):
    ev = one(record(v1_commit("Group Engineers (7dee3acc-5ed4-11e4-aa15-123b93f75cba) removed from role Operators.")))
    assert_ecs(ev, NS)
    assert ev["group"] == {"name": "Engineers", "id": "7dee3acc-5ed4-11e4-aa15-123b93f75cba"}
    ev = one(record({**v1_commit('Created with display name set to "Engineers".'), "object": None,
                     "objects": [{"id": "g1", "name": "Engineers", "type": "user_groups"}]}))
    assert ev["group"] == {"id": "g1", "name": "Engineers"} and "target" not in ev["user"]


def test_what_a_message_names_fills_in_its_own_events_only():
    """The target, role and group a message names are worked out once per kind of event (the plan, shared by its
    events and commits): an object a commit places fills in that commit's events only, and a commit placing none
    (its user object is the actor) gets only what the message says, whichever of the two was read first."""
    message = "User Jean Jackson (973c0cee-5ed3-11e4-aa15-123b93f75cba) added to role Operators."
    named = {"name": "Jean Jackson", "id": "973c0cee-5ed3-11e4-aa15-123b93f75cba", "group": {"name": "Operators"}}

    def events(user_object_id: str) -> list[dict]:
        return P.parse(record({"subject": {"id": "a1", "name": "admin"}, "objects": [{"id": user_object_id, "type": "users"}],
                               "timestamp": "2024-01-01T00:00:00Z", "events": [{"message": message}, {"message": message}]}))

    for _ in range(2):
        placed, own = events("u9"), events("a1")
        assert [list(ev["user"]["target"].items()) for ev in own] == [list(named.items())] * 2
        assert [list(ev["user"]["target"].items()) for ev in placed] == \
            [[("id", "u9"), ("name", "Jean Jackson"), ("group", {"name": "Operators"})]] * 2
        assert [ev["related"]["user"] for ev in own] == [["admin", "a1", "Jean Jackson", named["id"]]] * 2
        assert [ev["related"]["user"] for ev in placed] == [["admin", "a1", "Jean Jackson", "u9"]] * 2


def test_v2_user_object_is_the_target_user(assert_ecs):
    ev = one(record({"subject": {"id": "a1", "name": "admin"}, "objects": [{"id": "u9", "name": "jean", "type": "users"}],
                     "timestamp": "2024-01-01T00:00:00Z", "ip_address": "192.0.2.7",
                     "events": [{"type": "edit", "what": "user", "description": "edit_user_email",
                                 "message": 'Email set to "jean@example.com".'}]}))
    assert_ecs(ev, NS)
    assert ev["user"] == {"id": "a1", "name": "admin", "target": {"id": "u9", "name": "jean"}}
    assert ev["source"]["ip"] == "192.0.2.7" and ev["event"]["action"] == "user_metadata_changed"
    assert ev["puppet_enterprise"]["event"]["description"] == "edit_user_email"
    assert (ev["event"]["category"], ev["event"]["type"]) == (["iam"], ["user", "change"])


def test_not_an_address_is_kept_but_not_as_an_ip(assert_ecs):
    ev = one(record({**v1_commit("User revoked."), "ip-address": "an ip address"}))
    assert_ecs(ev, NS)
    assert "source" not in ev and ev["puppet_enterprise"]["ip_address"] == "an ip address"


def test_unknown_event_kind_is_shipped_tagged_unmapped(assert_ecs):
    ev = one(record(v1_commit("Something new happened")))
    assert_ecs(ev, NS)
    assert UNMAPPED_ACTION in ev["tags"] and ev["message"] == "Something new happened"


# --- broken input -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("raw, why", [
    (b"not json", "JSON"),
    (b"[1,2]", "JSON object"),
    (orjson.dumps({"commit": "text"}), "not an object"),
    (orjson.dumps({"commit": {"subject": {"name": "a"}, "events": [{"message": "x"}]}}), "no timestamp"),
    (orjson.dumps({"commit": {"subject": {"name": "a"}, "timestamp": "yesterday", "events": [{"message": "x"}]}}), "unreadable timestamp"),
    (orjson.dumps({"commit": {"subject": {"name": "a"}, "timestamp": "2024-01-01T00:00:00Z", "events": []}}), "no events"),
    (orjson.dumps({"commit": {"subject": {"name": "a"}, "timestamp": "2024-01-01T00:00:00Z", "events": ["x", 3]}}), "not an object"),
    (orjson.dumps({"service_id": "rbac", "malformed_page": "<html>", "error": "unreadable page"}), "unreadable page"),
])
def test_broken_records_are_shipped_flagged_with_the_original(assert_ecs, raw, why):
    evs = P.parse(raw)
    assert evs
    for ev in evs:
        assert_ecs(ev, NS)
        assert PARSE_FAILURE in ev["tags"] and why in ev["error"]["message"]
        assert ev["event"]["original"]


# The source hands over what orjson wrote, so integers stay within 64 bits.
JSONISH = st.recursive(st.none() | st.booleans() | st.integers(-2**63, 2**64 - 1) | st.text(max_size=20),
                       lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=8), kids, max_size=3),
                       max_leaves=8)
COMMIT = st.fixed_dictionaries({}, optional={
    "subject": st.one_of(JSONISH, st.fixed_dictionaries({"id": JSONISH, "name": JSONISH})),
    "object": JSONISH, "objects": st.one_of(JSONISH, st.lists(st.fixed_dictionaries({"id": JSONISH, "type": JSONISH}))),
    "timestamp": st.one_of(JSONISH, st.just("2024-02-03T04:05:06Z"), st.just("2014-07-17 13:08:09.985221")),
    "ip_address": st.one_of(JSONISH, st.just("10.0.0.1"), st.just("::1")),
    "events": st.one_of(JSONISH, st.lists(st.one_of(JSONISH, st.fixed_dictionaries(
        {}, optional={"type": JSONISH, "what": JSONISH, "description": JSONISH, "message": st.text(max_size=40)})),
        max_size=4)),
    "extra": JSONISH,
})


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(commit=COMMIT, api=st.sampled_from(["v1", "v2"]))
def test_any_commit_gives_valid_ecs_events_and_never_raises(assert_ecs, commit, api):
    evs = P.parse(record(commit, api=api))
    events = commit.get("events")
    assert len(evs) == (len(events) if isinstance(events, list) and events else 1)
    for ev in evs:
        assert_ecs(ev, NS)
        if PARSE_FAILURE in ev.get("tags", []):
            assert ev["error"]["message"] and ev["event"]["original"]


def test_shipper_cat_reads_saved_json_lines(tmp_path, samples):
    saved = tmp_path / "saved.jsonl"
    page = orjson.loads((samples / "v2-events.pe_client-docs-transcribed.json").read_bytes())
    saved.write_bytes(record(v1_commit("User revoked.")) + b"\n" + orjson.dumps(page) + b"\n"
                      + orjson.dumps(page["commits"][0]) + b"\n")
    r = subprocess.run([sys.executable, "-m", "shipper.cli", "cat", "-p", "puppet_enterprise", str(saved)],
                       capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr.decode()
    evs = [orjson.loads(l) for l in r.stdout.splitlines()]
    assert [e["message"] for e in evs] == ["User revoked.", "Create Node", "Create Node Class", "Create Node", "Create Node Class"]
    assert evs[0]["user"]["target"]["name"] == "jean"


# --- memos and sharing (the parser's speed-ups must not change what a record gives) -------------------------

def test_events_share_no_dict_the_pipeline_writes_to():
    """EventBuilder.enrich writes the event dict and `tags`, and puts a new `event` dict in place to add
    `event.original` (shipper.plugin: a shared dict is replaced, never changed): the event dict, `tags` and
    puppet_enterprise (commit.event_index differs) are each event's own; `event` may be the plan's, shared by
    the events of one kind. Through a real EventBuilder keeping the original, no event's text reaches another
    record's events."""
    from shipper.config_base import SourceConfig
    from shipper.events import EventBuilder
    from shipper.plugin import RawBatch

    commit = {**v1_commit("User revoked."), "events": [{"message": "User revoked."}, {"message": "Something new"},
                                                        {"type": "edit", "what": "user", "message": "User revoked."}]}
    builder = EventBuilder(SourceConfig(name="pe", type="file", parser="puppet_enterprise",
                                        preserve_original_event=True), PuppetEnterpriseParser(), "agent-host")
    for raw in (record(commit), record(commit), record({**commit, "timestamp": None})):
        evs = P.parse(raw)
        assert len(evs) == 3
        for name in ("tags", "puppet_enterprise"):
            held = [id(ev[name]) for ev in evs if name in ev]
            assert len(set(held)) == len(held), name
        assert len({id(ev) for ev in evs}) == 3
        other = record({**commit, "subject": {"id": "1", "name": "other"}})
        events, _ids = builder.build(RawBatch([other, raw], ["k0", "k1"], {}, len(other) + len(raw)))
        assert [orjson.loads(e["event"]["original"]) for e in events] == [orjson.loads(other)] * 3 + [orjson.loads(raw)] * 3
        assert all("original" not in e["event"] or e["event"]["original"] == raw.decode() for e in P.parse(raw))


def test_a_warm_parser_says_what_a_fresh_one_does(monkeypatch):
    """The memos (event plans, subjects, key sets, classification) give what a first read gives, also for
    values that compare equal across types (1 == True == 1.0) and for key spellings of one field."""
    import shipper_plugins.parsers.puppet_enterprise as pe
    monkeypatch.setattr(pe, "now_iso", lambda: "2000-01-01T00:00:00.000Z")  # a flagged event's read time
    base = v1_commit("User revoked.")
    commits = []
    for v in (1, True, 1.0, "1", "True", None, "", [1], {"a": 1}):
        commits.append({**base, "subject": {"id": v, "name": "n"}, "events": [{"type": v, "message": "User revoked."}]})
        commits.append({**base, "objects": [{"id": v, "type": "users"}], "events": [{"what": v}, {"message": v}]})
        commits.append({**base, "events": [{"type": "delete", "what": "role", "message": "x", "extra": v}]})
    commits.append({**base, "events": [{"message": "User revoked.", "Message": "User reinstated."}]})
    commits.append({**base, "events": [{"Message": "User reinstated.", "message": "User revoked."}]})
    lines = [record(c) for c in commits]
    for order in (lines, lines[::-1]):
        want = [orjson.dumps(PuppetEnterpriseParser().parse(l)) for l in order]  # every line read cold
        warm = PuppetEnterpriseParser()
        assert [orjson.dumps(warm.parse(l)) for l in order] == want
        assert [orjson.dumps(warm.parse(l)) for l in order] == want


def test_lines_of_long_unique_values_leave_the_parser_bounded():
    def lines(start: int, n: int):
        for i in range(start, start + n):
            big = f"{i:06d}" + "x" * 2000
            yield record({"subject": {"id": big, "name": big, big: big}, "objects": [{"id": big, "type": big, big: 1}],
                          "timestamp": big, "ip_address": big, big: big,
                          "events": [{"type": big, "what": big, "message": big, big: big}]}, big, big)

    grown = bytes_kept_by_parser(PuppetEnterpriseParser(), lines)
    assert grown < 2_000_000, f"{grown} bytes kept after 2000 lines of ~30 kB"


text = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_ ", min_size=3, max_size=12).map(lambda t: f"v<{t}>")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(service=st.one_of(st.none(), text, st.fixed_dictionaries({"id": text, "name": text})),
       service_id=st.one_of(st.none(), text), second_time=st.booleans(), second_ip=st.booleans(),
       extra_commit=st.dictionaries(st.sampled_from(["foo", "reason", "origin"]), text, max_size=2),
       extra_top=st.dictionaries(st.sampled_from(["offset", "total-rows", "note"]), text, max_size=2),
       wrapped=st.booleans())
def test_nothing_of_a_record_is_dropped(assert_ecs, service, service_id, second_time, second_ip, extra_commit,
                                        extra_top, wrapped):
    """Every value the vendor wrote reaches the events: a service name or object, a second time or
    address spelling, commit keys nobody documented, and what a record holds beside its commit."""
    commit = {"subject": {"id": "u-1", "name": "admin"}, "timestamp": "2024-02-01T10:00:00Z",
              "ip_address": "10.0.0.1", "events": [{"type": "delete_group", "what": "group", "description": "x",
                                                     "message": "Deleted group g"}], **extra_commit}
    if service is not None:
        commit["service"] = service
    if second_time:
        commit["submit_time"] = "v<2024-02-01T09:59:59Z>"
    if second_ip:
        commit["ip"] = "v<10.9.9.9>"
    record = {"commit": commit, **extra_top} if wrapped or extra_top or service_id else commit
    if service_id is not None:
        record["service_id"] = service_id
    events = PuppetEnterpriseParser().parse(orjson.dumps(record))
    for ev in events:
        assert_ecs(ev, "puppet_enterprise")
    shipped = orjson.dumps(events).decode()
    leaves = re.findall(r"v<[^>]*>", orjson.dumps(record).decode())
    missing = [v for v in leaves if v not in shipped]
    assert not missing, (missing, events)


# --- what an auditor asks (docs/ecs-conventions.md) ----------------------------------------------------

def test_token_revocation_names_its_object_and_target(assert_ecs):
    ev = one(record(v1_commit("Administrator (42bf351c-f9ec-40af-84ad-e976fec7f4bd) revoked all authentication "
                              "tokens belonging to Amari Perez (c84bae61-f668-4a18-9a4a-5e33a97b716c).")))
    assert_ecs(ev, NS)
    assert ev["event"]["action"] == "tokens_revoked_by_username"
    assert ev["event"]["category"] == ["iam"] and ev["event"]["type"] == ["user", "deletion"]
    assert ev["user"]["target"]["name"] == "Amari Perez"


def test_login_has_an_outcome_and_names_the_account(assert_ecs):
    ev = one(record(v1_commit("User Jean Jackson (973c0cee-5ed3-11e4-aa15-123b93f75cba) logged in.")))
    assert_ecs(ev, NS)
    assert ev["event"]["outcome"] == "success" and "Jean Jackson" in ev["related"]["user"]


def test_action_is_bounded_and_the_text_is_the_message(assert_ecs):
    text = "Somebody did something nobody catalogued, with a unique id 7d1f0c and a long free text"
    ev = one(record({"subject": {"id": "a1", "name": "admin"}, "timestamp": "2024-01-01T00:00:00Z",
                     "events": [{"type": "frobnicate", "what": "widget", "description": text}]}))
    assert_ecs(ev, NS)
    assert ev["event"]["action"] == "frobnicate_widget" and ev["message"] == text
    assert ev["puppet_enterprise"]["event"]["description"] == text
    ev = one(record({"subject": {"id": "a1", "name": "admin"}, "timestamp": "2024-01-01T00:00:00Z",
                     "events": [{"description": text}]}))
    assert "action" not in ev["event"] and ev["message"] == text and UNMAPPED_ACTION in ev["tags"]


def test_nodes_are_related_hosts(assert_ecs):
    ev = one(record(v1_commit("request puppet agent run on web01.example.com, db01.example.com via orchestrator job 12"),
                    "orchestrator"))
    assert_ecs(ev, NS)
    assert ev["related"]["hosts"] == ["web01.example.com", "db01.example.com"]
    ev = one(record({"subject": {"id": "a1", "name": "admin"}, "timestamp": "2024-01-01T00:00:00Z",
                     "objects": [{"id": "n1", "name": "web02.example.com", "type": "nodes"}],
                     "events": [{"type": "create", "what": "node", "message": "Create Node"}]}, "classifier"))
    assert_ecs(ev, NS)
    assert ev["related"]["hosts"] == ["web02.example.com"]


def test_unparsable_line_is_a_pipeline_error():
    [ev] = P.parse(b'{"service_id": "rbac", "commit": {"subject": ')
    assert ev["event"]["kind"] == "pipeline_error" and PARSE_FAILURE in ev["tags"]


def test_zone_id_leaves_source_ip_and_stays_in_the_vendor_field(assert_ecs):
    ev = one(record({**v1_commit("User revoked."), "ip_address": "fe80::1%eth0"}))
    assert_ecs(ev, NS)
    assert ev["source"]["ip"] == "fe80::1" and ev["puppet_enterprise"]["ip_address"] == "fe80::1%eth0"


def test_every_iam_entry_names_its_object():
    for (kind,), cls in CLASSES.items():
        if "iam" in cls.category:
            assert {"user", "group", "admin"} & set(cls.type), kind


def test_time_zone_only_for_a_zoneless_time():
    base = v1_commit("User revoked.")
    assert "timezone" not in one(record(base))["event"]
    [ev] = PuppetEnterpriseParser({"timezone": "Europe/Paris"}).parse(record({**base, "timestamp": "2019-03-05 18:52:27"}))
    assert ev["event"]["timezone"] == "Europe/Paris" and ev["@timestamp"] == "2019-03-05T17:52:27.000Z"


def test_a_time_read_again_is_read_in_each_parsers_own_zone():
    """Commits of one second share their time's reading (a memo per parser): read again, and by a parser of
    another zone, a zone-less time is still each parser's own, and the hour a DST change repeats is tagged
    on every read, not only the first."""
    from shipper.ecs import AMBIGUOUS_LOCAL_TIME
    repeated = record({**v1_commit("User revoked."), "timestamp": "2019-11-03 01:30:00"})  # New York's clock repeats 1-2
    york, paris = PuppetEnterpriseParser({"timezone": "America/New_York"}), PuppetEnterpriseParser({"timezone": "Europe/Paris"})
    for _ in range(2):
        [ny] = york.parse(repeated)
        [pa] = paris.parse(repeated)
        assert (ny["@timestamp"], ny["event"]["timezone"]) == ("2019-11-03T05:30:00.000Z", "America/New_York")
        assert AMBIGUOUS_LOCAL_TIME in ny["tags"]
        assert (pa["@timestamp"], pa["event"]["timezone"]) == ("2019-11-03T00:30:00.000Z", "Europe/Paris")
        assert AMBIGUOUS_LOCAL_TIME not in pa.get("tags", ())
        assert "timezone" not in one(repeated.replace(b"2019-11-03 01:30:00", b"2019-11-03T01:30:00Z"))["event"]
