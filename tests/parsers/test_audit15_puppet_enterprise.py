"""Issue 15 audit, Puppet Enterprise: held-out records read as an auditor would (docs/ecs-conventions.md)."""
from __future__ import annotations

import orjson
import pytest

from shipper_plugins.parsers.puppet_enterprise import PuppetEnterpriseParser
from tests.vendor_lists import SAMPLES

NS = "puppet_enterprise"


def record(commit: dict, service: str = "rbac", api: str = "v2") -> bytes:
    return orjson.dumps({"service_id": service, "api_version": api, "commit": commit})


def commit(**kw) -> dict:
    c = {"subject": {"id": "42bf351c-f9ec-40af-84ad-e976fec7f4bd", "name": "admin"},
         "timestamp": "2019-03-05T18:52:27Z"}
    c.update(kw)
    return c


@pytest.mark.parametrize("written,ip", [("203.0.113.9:4433", "203.0.113.9"), ("[2001:db8::5]:4433", "2001:db8::5")])
def test_an_address_with_a_port_keeps_the_text_as_written(written, ip, assert_ecs):
    # Conventions, "Addresses": the port is cut from source.ip, the text as written stays in
    # puppet_enterprise.ip_address.
    [ev] = PuppetEnterpriseParser().parse(record(commit(ip_address=written, events=[{"message": "User revoked."}])))
    assert_ecs(ev, NS)
    assert ev["source"]["ip"] == ip
    assert ev["puppet_enterprise"]["ip_address"] == written


def test_an_agent_run_is_a_process_start_like_a_task_run(assert_ecs):
    # Seed, orchestrator "Agent runs": "Puppet ran as part of an orchestration job". Conventions,
    # "Configuration vs process": a run is process/start; a task run already is.
    msg = "Request Puppet agent run on node.example.com via orchestrator job 12."
    [ev] = PuppetEnterpriseParser().parse(record(commit(events=[{"message": msg}]), "orchestrator", "v1"))
    assert_ecs(ev, NS)
    assert ev["event"]["category"] == ["process"] and ev["event"]["type"] == ["start"]
    assert ev["related"]["hosts"] == ["node.example.com"]


@pytest.mark.parametrize("what,object_type", [("user", "users"), ("node_class", "node_classes")])
def test_an_uncatalogued_deletion_names_what_was_deleted(what, object_type, assert_ecs):
    # Conventions, "event.action": the catalogue's kind, else the API's type_what. A bare "deleted" for
    # the deletion of a user and of a node class alike is ambiguous: an auditor cannot ask "who deleted users".
    c = commit(objects=[{"id": "o1", "name": "thing", "type": object_type}],
               events=[{"type": "delete", "what": what, "description": f"Deleted {what} thing"}])
    [ev] = PuppetEnterpriseParser().parse(record(c))
    assert_ecs(ev, NS)
    assert ev["event"]["action"] == f"delete_{what}"
    assert ev["event"]["type"][-1] == "deletion"
    assert ev["puppet_enterprise"]["event"] == {"type": "delete", "what": what, "description": f"Deleted {what} thing"}


def test_a_row_of_the_csv_export_says_who_did_what(assert_ecs):
    # The vendor's documented GET /v2/events.csv export (samples/.../v2-events.docs-current.csv), a row
    # read as a JSON object: the conventions name its zone-less Submit Time; the subject is the actor,
    # the Type/What the action, the Message the message, and every column's value is kept.
    import csv
    path = SAMPLES / "puppet_enterprise" / "v2-events.docs-current.csv"
    with open(path, newline="", encoding="utf-8") as f:
        rows = [{k: v.replace("\\_", "_") for k, v in r.items()} for r in csv.DictReader(f)]  # the page's markdown escapes
    assert len(rows) == 2
    for row, (kind, msg) in zip(rows, [("create_node", "Create Node"), ("create_node_class", "Create Node Class")]):
        [ev] = PuppetEnterpriseParser({"timezone": "Europe/Paris"}).parse(orjson.dumps(row))
        assert_ecs(ev, NS)
        assert ev["event"]["kind"] == "event" and "tags" not in ev
        assert ev["user"] == {"id": "kai", "name": "Kai Evans"}
        assert ev["event"]["action"] == kind and ev["message"] == msg
        assert ev["@timestamp"] == "2014-07-17T11:08:09.985Z" and ev["event"]["timezone"] == "Europe/Paris"
        assert ev["source"]["ip"] == "123.123.123.123"
        assert (ev["event"]["category"], ev["event"]["type"]) == (["configuration"], ["creation"])
        shipped = orjson.dumps(ev).decode()
        assert all(v in shipped for v in row.values()), row


@pytest.mark.parametrize("page,object_", [
    ("user", {"id": "76483e62-5ed4-11e4-aa15-123b93f75cba", "name": "Kalo Hill"}),  # the user's page
    ("role", {"id": "5", "name": "Operators"}),  # the role's page ("Members")
])
@pytest.mark.parametrize("change", ["added to", "removed from"])
def test_role_membership_names_the_member_and_the_role(page, object_, change, assert_ecs):
    # Seed, user "Role membership" and role "Members": "User Kalo Hill (76483e62-…) removed from role
    # Operators." Conventions, "Membership": the member is user.target.*, the role (a PE RBAC role: the
    # group of users a permission set is given to) user.target.group.name, event.type [group, change]; who
    # was added to "Operators" must be one query, whichever page the event was recorded on.
    msg = f"User Kalo Hill (76483e62-5ed4-11e4-aa15-123b93f75cba) {change} role Operators."
    [ev] = PuppetEnterpriseParser().parse(record(commit(object=object_, events=[{"message": msg}]), api="v1"))
    assert_ecs(ev, NS)
    assert ev["user"]["name"] == "admin"
    assert ev["user"]["target"] == {"id": "76483e62-5ed4-11e4-aa15-123b93f75cba", "name": "Kalo Hill",
                                    "group": {"name": "Operators"}}
    assert ev["event"]["category"] == ["iam"] and ev["event"]["type"] == ["group", "change"]
    assert {"Kalo Hill", "76483e62-5ed4-11e4-aa15-123b93f75cba"} <= set(ev["related"]["user"])
    assert ev["puppet_enterprise"]["details"] == {"change": change, "role": "Operators"}  # kept as read
    assert ev["message"] == msg


def test_a_groups_role_membership_keeps_the_group_as_the_group(assert_ecs):
    # Seed, group "Role membership": "Group Engineers (7dee3acc-…) added to role Operators." The group acted
    # on is group.*; no user is the target, so the role has no ECS place (ECS has no group of a group) and
    # stays in puppet_enterprise.details.role.
    msg = "Group Engineers (7dee3acc-5ed4-11e4-aa15-123b93f75cba) added to role Operators."
    [ev] = PuppetEnterpriseParser().parse(record(commit(events=[{"message": msg}]), api="v1"))
    assert_ecs(ev, NS)
    assert ev["group"] == {"id": "7dee3acc-5ed4-11e4-aa15-123b93f75cba", "name": "Engineers"}
    assert "target" not in ev["user"]
    assert ev["puppet_enterprise"]["details"]["role"] == "Operators"
    assert ev["event"]["type"] == ["group", "change"]


def test_a_permission_given_to_a_role_is_no_membership(assert_ecs):
    # Seed, role "Permissions": "Permission users:edit:76483e62-… added to role Operators." Nobody joins the
    # role: even with a user among the commit's objects, no user.target.group is made of it.
    msg = "Permission users:edit:76483e62-5ed4-11e4-aa15-123b93f75cba added to role Operators."
    c = commit(objects=[{"id": "a1", "name": "jean", "type": "user"}], events=[{"message": msg}])
    [ev] = PuppetEnterpriseParser().parse(record(c, api="v1"))
    assert_ecs(ev, NS)
    assert "group" not in ev["user"].get("target", {})
    assert ev["event"]["type"] == ["admin", "change"]
    assert ev["puppet_enterprise"]["details"]["role"] == "Operators"


@pytest.mark.parametrize("msg,setting,value", [
    ('User rdn set to "ou=users".', "User rdn", "ou=users"),  # seed, directory "Update settings"
    ('Display name set to "Jean Jackson".', "Display name", "Jean Jackson"),  # seed, user "Metadata"
    ("Email set to jean@example.com.", "Email", "jean@example.com"),
])
def test_a_setting_is_read_without_the_messages_quotes(msg, setting, value, assert_ecs):
    # The value a message quotes is searched as the value: details.value "ou=users", not "\"ou=users\"".
    c = commit(object={"id": "o-1", "name": "jean"}, events=[{"message": msg}])
    [ev] = PuppetEnterpriseParser().parse(record(c, api="v1"))
    assert_ecs(ev, NS)
    assert ev["puppet_enterprise"]["details"] == {"setting": setting, "value": value}
    assert ev["message"] == msg  # the text as written


def test_a_login_names_its_account_by_name_and_id_in_related_user(assert_ecs):
    # Seed, user "Authentication": "User Jean Jackson (973c0cee-…) logged in." The account is searchable by
    # its id as by its name (as the actor's id is); a v1 commit whose subject is someone else still names it.
    msg = "User Nia Okafor (5d1c0a2e-1b2c-4d5e-8f90-0a1b2c3d4e5f) logged in."
    for subject in ({"id": "5d1c0a2e-1b2c-4d5e-8f90-0a1b2c3d4e5f", "name": "nia"}, {"id": "9", "name": "api"}):
        [ev] = PuppetEnterpriseParser().parse(record(commit(subject=subject, events=[{"message": msg}]), api="v1"))
        assert_ecs(ev, NS)
        assert ev["event"]["action"] == "user_login" and ev["event"]["outcome"] == "success"
        assert "Nia Okafor" in ev["related"]["user"]
        assert "5d1c0a2e-1b2c-4d5e-8f90-0a1b2c3d4e5f" in ev["related"]["user"]
        assert len(ev["related"]["user"]) == len(set(ev["related"]["user"]))


def test_a_token_revokers_id_is_related_too(assert_ecs):
    msg = ("Ola Berg (11111111-2222-4333-8444-555555555555) revoked an authentication token belonging to "
           "Amari Perez (c84bae61-f668-4a18-9a4a-5e33a97b716c).")
    [ev] = PuppetEnterpriseParser().parse(record(commit(events=[{"message": msg}]), api="v1"))
    assert_ecs(ev, NS)
    assert {"Ola Berg", "11111111-2222-4333-8444-555555555555", "Amari Perez",
            "c84bae61-f668-4a18-9a4a-5e33a97b716c"} <= set(ev["related"]["user"])
