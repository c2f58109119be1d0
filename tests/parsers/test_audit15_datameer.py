"""Issue 15 audit, Datameer: held-out records read as an auditor would (docs/ecs-conventions.md)."""
from __future__ import annotations

import orjson
import pytest

from shipper_plugins.parsers.datameer import DatameerParser


def line(**kw) -> bytes:
    doc = {"timestamp": "2026-03-04 05:06:07", "actionType": "AUTHENTICATION", "action": "LOGIN",
           "performingUser": "admin"}
    doc.update(kw)
    return orjson.dumps(doc)


@pytest.mark.parametrize("written,ip", [("203.0.113.9:8080", "203.0.113.9"), ("[2001:db8::1]:8443", "2001:db8::1")])
def test_an_address_with_a_port_keeps_the_text_as_written(written, ip, assert_ecs):
    # Conventions, "Addresses": `:port` and `[v6]:port` are cut from source.ip and the text as written
    # stays in the vendor namespace (datameer.ip_address) -- the port is otherwise lost.
    [ev] = DatameerParser().parse(line(ipAddress=written))
    assert_ecs(ev, "datameer")
    assert ev["source"]["ip"] == ip
    assert ev["datameer"]["ip_address"] == written


def test_who_started_a_job_and_who_it_ran_as_are_related_users(assert_ecs):
    # Seed (JOB START_EXECUTION / STOP_EXECUTION): execution-triggered-by, execution-job-user. Datameer's
    # "Job Execution Status Events": the triggering user "performed the job start action" (the job owner
    # when the scheduler started it); the executing user runs it. Neither is the actor of a stop nor a
    # target: both must be searchable users (conventions, "Other users an event names").
    [ev] = DatameerParser().parse(line(**{
        "actionType": "JOB", "action": "STOP_EXECUTION", "performingUser": "admin",
        "execution-id": "42", "execution-triggered-by": "bob", "execution-job-user": "carol",
        "execution-job-status": "ERROR", "execution-configuration-path": "/Analytics/Jobs/payroll"}))
    assert_ecs(ev, "datameer")
    assert ev["user"]["name"] == "admin" and "target" not in ev["user"]
    assert sorted(ev["related"]["user"]) == ["admin", "bob", "carol"]
    assert ev["datameer"]["execution_triggered_by"] == "bob"  # the vendor field kept
    assert ev["event"]["outcome"] == "failure"
    assert ev["message"] == "admin: JOB STOP_EXECUTION /Analytics/Jobs/payroll (failure)"


def test_the_message_is_the_same_sentence_in_datameer_and_databricks():
    # Conventions, "Context": products that write no text of their own get one line built by one helper
    # (shipper.ecs.audit_message): the same facts read the same way, whichever product wrote them.
    from shipper_plugins.parsers.databricks import DatabricksParser
    from tests.parsers.test_databricks import make_record
    [dm] = DatameerParser().parse(line(**{"actionType": "USER_MANAGEMENT", "action": "ADD_USER_TO_GROUP",
                                          "performingUser": "", "user-name": "bob", "group-name": "admins"}))
    raw, _ = make_record("accounts", "addPrincipalToGroup", "diagnostic", email="",
                         params={"targetUserName": "bob", "targetGroupName": "admins"})
    [db] = DatabricksParser().parse(raw)
    assert dm["message"] == "unknown user: USER_MANAGEMENT ADD_USER_TO_GROUP user bob group admins"
    assert db["message"] == "unknown user: accounts.addPrincipalToGroup user bob group admins (success)"


def test_a_failed_logins_account_does_not_take_the_performers_roles(assert_ecs):
    # Seed (AUTHENTICATION UNABLE_TO_AUTHENTICATE, LOGIN_ATTEMPT_ON_DISABLED_USER): `user-name`; the core
    # fields are the performing user and "roles of the performing user". The attempted account is
    # user.name (conventions, "Failed logins"); the roles written are the performer's (e.g. `anonymous`),
    # so they are not the account's user.roles: kept beside the performer.
    [ev] = DatameerParser().parse(line(**{"action": "UNABLE_TO_AUTHENTICATE", "performingUser": "anonymous",
                                          "roles": ["ANONYMOUS"], "user-name": "mallory"}))
    assert_ecs(ev, "datameer")
    assert ev["user"] == {"name": "mallory"}
    assert ev["datameer"]["performing_user"] == "anonymous"
    assert ev["datameer"]["performing_user_roles"] == ["ANONYMOUS"]
    assert ev["event"]["outcome"] == "failure"
    assert ev["related"]["user"] == ["mallory"]  # `anonymous` is nobody to search for
    # the account's own login keeps its roles
    [ok] = DatameerParser().parse(line(**{"action": "LOGIN", "performingUser": "bob", "roles": ["ADMIN"],
                                          "user-name": "bob"}))
    assert ok["user"] == {"name": "bob", "roles": ["ADMIN"]}


def test_every_documented_field_is_searchable():
    # `shipper setup elasticsearch` maps datameer.* with `dynamic: false`: a field the parser writes but
    # does not declare is stored, not indexed (the permission bits of PERMISSION/* were). Every documented
    # additional field of every action (seed table), as the parser writes it, is declared.
    from shipper_plugins.outputs.elasticsearch_ingest_pipeline import vendor_field_types
    from tests.vendor_lists import datameer_actions
    declared = vendor_field_types("datameer")
    for row in datameer_actions():
        [ev] = DatameerParser().parse(line(**{"actionType": row.action_type, "action": row.action,
                                              **{f: "v" for f in row.fields}}))
        assert set(ev["datameer"]) <= set(declared), (row.action, set(ev["datameer"]) - set(declared))
