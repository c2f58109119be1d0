"""Issue 15 audit, Azure Databricks: held-out records read as an auditor would (docs/ecs-conventions.md)."""
from __future__ import annotations

import pytest

from shipper_plugins.parsers.databricks import DatabricksParser
from tests.parsers.test_databricks import SHAPES, make_record


# Seed (dbfs / notebook / workspace / mlflowExperiment events): the documented request parameters of
# moves, renames and clones. Conventions, "to what": file.path / file.name is the object as it is after the
# action (the one an auditor looks for); where it was is databricks.source_path beside it (ECS has no field
# for a file's former path), and the message says both.
@pytest.mark.parametrize("service,action,params,path,name,source", [
    ("dbfs", "move", {"src": "dbfs:/mnt/raw/pii.csv", "dst": "dbfs:/tmp/pii.csv"}, "dbfs:/tmp/pii.csv", "pii.csv",
     "dbfs:/mnt/raw/pii.csv"),
    ("dbfs", "move", {"source_path": "/mnt/raw/a", "destination_path": "/mnt/out/a"}, "/mnt/out/a", "a", "/mnt/raw/a"),
    ("notebook", "moveNotebook", {"notebookId": "1", "oldPath": "/Users/ada@example.com/nb", "newPath": "/Shared/nb"},
     "/Shared/nb", "nb", "/Users/ada@example.com/nb"),
    ("notebook", "moveFolder", {"folderId": "2", "oldPath": "/Users/ada@example.com/reports", "newPath": "/Shared/reports"},
     "/Shared/reports", "reports", "/Users/ada@example.com/reports"),
    ("mlflowExperiment", "moveMlflowExperiment", {"experimentId": "7", "oldPath": "/Users/ada@example.com/exp",
                                                 "newPath": "/Shared/exp"}, "/Shared/exp", "exp", "/Users/ada@example.com/exp"),
    ("notebook", "cloneNotebook", {"notebookId": "1", "path": "/Users/ada@example.com/nb", "clonedNotebookId": "3",
                                   "destinationPath": "/Shared/nb copy"}, "/Shared/nb copy", "nb copy",
     "/Users/ada@example.com/nb"),
    ("workspace", "moveWorkspaceNode", {"path": "/Users/ada@example.com/x", "destinationPath": "/Shared/x"},
     "/Shared/x", "x", "/Users/ada@example.com/x"),
    ("workspace", "renameWorkspaceNode", {"path": "/Shared/old", "destinationPath": "/Shared/new"}, "/Shared/new", "new",
     "/Shared/old"),
    ("dbfs", "delete", {"path": "/mnt/raw/pii.csv", "recursive": "false"}, "/mnt/raw/pii.csv", "pii.csv", None),
])
@pytest.mark.parametrize("shape", SHAPES)
def test_path_of_a_moved_renamed_or_cloned_object(service, action, params, path, name, source, shape, assert_ecs):
    raw, _ = make_record(service, action, shape, params=params)
    (ev,) = DatabricksParser().parse(raw)
    assert_ecs(ev, "databricks")
    assert ev["file"]["path"] == path and ev["file"]["name"] == name
    assert ev["databricks"].get("source_path") == source  # a deletion has no source: its path is the object
    assert ev["databricks"]["request_params"] == params  # the vendor's fields kept
    assert f"{source} -> {path}" in ev["message"] if source else f" {path} " in ev["message"]


# Seed (unityCatalog updatePermissions, updateSharePermissions): `changes` is "a JSON representation of the
# updated permissions. Each change includes principal (the user or group to whom permission is granted or
# revoked)". Conventions, "Sharing and grants": the grantee is user.target.* (an e-mail), user.target.id
# (an application id) or group.* (else); Databricks' three kinds of principal.
@pytest.mark.parametrize("principal,where", [
    ("bob@example.com", {"user": {"target": {"name": "bob@example.com", "email": "bob@example.com"}}}),
    ("8f2c1d3e-0000-4000-8000-000000000001", {"user": {"target": {"id": "8f2c1d3e-0000-4000-8000-000000000001"}}}),
    ("data-engineers", {"group": {"name": "data-engineers"}}),
])
@pytest.mark.parametrize("action,params", [
    ("updatePermissions", {"securable_type": "table", "securable_full_name": "main.hr.salaries", "workspace_id": "99",
                           "metastore_id": "m-1"}),
    ("updateSharePermissions", {"name": "partner-share"}),
])
def test_grantee_of_a_unity_catalog_permission_change(principal, where, action, params, assert_ecs):
    params = {**params, "changes": f'[{{"principal":"{principal}","add":["SELECT"],"remove":[]}}]'}
    raw, _ = make_record("unityCatalog", action, "system_table", params=params)
    (ev,) = DatabricksParser().parse(raw)
    assert_ecs(ev, "databricks")
    assert ev["user"]["name"] == "ada@example.com"  # the actor stays the actor
    for key, sub in where.items():
        for k, v in sub.items():
            assert ev[key][k] == v, (key, k, ev.get(key))
    assert ev["event"]["category"] == ["iam"] and "admin" in ev["event"]["type"]
    assert (principal in ev["related"]["user"]) is ("user" in where)  # a user or service principal, not a group
    assert ev["databricks"]["request_params"] == params


@pytest.mark.parametrize("shape", SHAPES)
def test_support_access_names_who_came_in_and_who_approved(shape, assert_ecs):
    # Seed (genie databricksAccess): "A Databricks personnel is authorized to access a customer
    # environment", with `user` and `approver`. Who entered the workspace and who let them in must be
    # searchable users (related.user), as a login's account is (conventions, "Failed logins"/"Logins").
    params = {"duration": "60", "approver": "ada@example.com", "reason": "ticket 1234", "authType": "ticket",
              "user": "engineer@databricks.com"}
    raw, _ = make_record("genie", "databricksAccess", shape, email="", params=params)
    (ev,) = DatabricksParser().parse(raw)
    assert_ecs(ev, "databricks")
    assert ev["user"]["name"] == "engineer@databricks.com"  # the identity names nobody: the account is the actor
    assert {"engineer@databricks.com", "ada@example.com"} <= set(ev["related"]["user"])
    assert ev["databricks"]["request_params"] == params


def test_the_creator_of_a_job_run_is_a_related_user(assert_ecs):
    # Seed (jobs runFailed/runSucceeded/runStart): `runCreatorUserName`. A scheduled run's actor is
    # System-User; who the run belongs to must still be searchable (conventions: every user in related.user).
    params = {"jobId": "7", "runId": "9", "jobTerminalState": "Failed", "jobTriggerType": "cron",
              "runCreatorUserName": "bob@example.com", "orgId": "1234"}
    raw, _ = make_record("jobs", "runFailed", "diagnostic", email="System-User", params=params)
    (ev,) = DatabricksParser().parse(raw)
    assert_ecs(ev, "databricks")
    assert ev["user"]["name"] == "System-User"  # the actor as written
    assert ev["related"]["user"] == ["bob@example.com"]  # the system is nobody to search for; the creator is
    assert ev["event"]["outcome"] == "failure"


@pytest.mark.parametrize("shape", SHAPES)
def test_a_service_principal_target_is_an_id(shape, assert_ecs):
    # Seed (accounts addPrincipalToGroup): targetUserName, targetUserId, targetGroupName, targetGroupId. A
    # service principal is named by its application id (conventions, "Service principals act by
    # application id"): user.target.id, never user.target.name; the SCIM id stays in request_params.
    sp = "6c1d2a4e-1111-4222-8333-944455556666"
    params = {"targetUserName": sp, "targetUserId": "5551234", "targetGroupName": "admins",
              "targetGroupId": "777", "endpoint": "adminConsole"}
    raw, _ = make_record("accounts", "addPrincipalToGroup", shape, params=params)
    (ev,) = DatabricksParser().parse(raw)
    assert_ecs(ev, "databricks")
    assert ev["user"]["name"] == "ada@example.com"
    assert ev["user"]["target"] == {"id": sp, "group": {"id": "777", "name": "admins"}}
    assert sp in ev["related"]["user"]
    assert f"user {sp} group admins" in ev["message"]
    assert ev["databricks"]["request_params"] == params


@pytest.mark.parametrize("status,outcome", [(302, "success"), (304, "success"), (200, "success"),
                                            (401, "failure"), (500, "failure")])
@pytest.mark.parametrize("service,action", [("accounts", "aadBrowserLogin"), ("notebook", "attachNotebook")])
def test_a_redirect_is_no_failure(service, action, status, outcome, assert_ecs):
    # A browser login is answered with a redirect (302) when it works; conventions, "Outcome order": the
    # HTTP status speaks last, and only 4xx/5xx are failures (as Elastic's HTTP integrations read it).
    raw, _ = make_record(service, action, "diagnostic", status=status, params={"user": "ada@example.com"})
    (ev,) = DatabricksParser().parse(raw)
    assert_ecs(ev, "databricks")
    assert ev["event"]["outcome"] == outcome
    assert ev["databricks"]["response"]["status_code"] == status


@pytest.mark.parametrize("denied,outcome", [("true", "failure"), ("false", "success"), (None, "success")])
@pytest.mark.parametrize("action", ["deltaSharingListShares", "deltaSharingGetShare", "deltaSharingListAllTables"])
def test_a_recipient_denied_by_the_ip_access_list_is_a_failure(action, denied, outcome, assert_ecs):
    # Seed (unityCatalog deltaSharing*): is_ip_access_denied "None if there is no IP access list
    # configured. Otherwise, true if the request was denied". Conventions, "Outcome order": the vendor's own
    # result beats the HTTP status the audit record was written with.
    params = {"share": "partner-share", "recipient_name": "acme", "options": "{}"}
    if denied is not None:
        params["is_ip_access_denied"] = denied
    raw, _ = make_record("unityCatalog", action, "system_table", params=params, status=200)
    (ev,) = DatabricksParser().parse(raw)
    assert_ecs(ev, "databricks")
    assert ev["event"]["outcome"] == outcome
    assert ev["databricks"]["request_params"] == params


@pytest.mark.parametrize("owner,related", [("bob@example.com", True), ("6c1d2a4e-1111-4222-8333-944455556666", True),
                                          ("data-engineers", False)])
def test_the_owner_an_event_names_is_a_related_user(owner, related, assert_ecs):
    # Seed (unityCatalog updateTables, updateRegisteredModel, createVolume …): `owner`. Who owns the
    # object after the request must be searchable when it is a user or a service principal (conventions,
    # "Other users an event names"); a group's name is not a user.
    params = {"full_name_arg": "main.hr.salaries", "owner": owner, "workspace_id": "99", "metastore_id": "m-1"}
    raw, _ = make_record("unityCatalog", "updateTables", "system_table", params=params)
    (ev,) = DatabricksParser().parse(raw)
    assert_ecs(ev, "databricks")
    assert (owner in ev["related"]["user"]) is related
    assert ev["user"]["name"] == "ada@example.com" and "target" not in ev["user"]


@pytest.mark.parametrize("shape", SHAPES)
def test_every_documented_column_is_searchable(shape):
    # `shipper setup elasticsearch` maps databricks.* with `dynamic: false`: a column the parser keeps but
    # does not declare is stored, not indexed. Every documented scalar column of every shape is declared
    # (the records of tests.parsers.test_databricks carry them; request_params is the one open-ended blob).
    from shipper.ecs_schema import flatten
    from shipper_plugins.outputs.elasticsearch_ingest_pipeline import vendor_field_types
    declared = vendor_field_types("databricks")
    raw, _ = make_record("jobs", "runFailed", shape, params={"jobId": "1"})
    (ev,) = DatabricksParser().parse(raw)
    kept = {k for k, _ in flatten(ev["databricks"]) if not k.startswith("request_params")}
    assert kept <= set(declared), kept - set(declared)


# Conventions, "Context": the message names the object an action is about when it is no file, by its kind
# and id or name (the values stay in request_params; ECS has no field for a cluster, job or table).
@pytest.mark.parametrize("service,action,params,named", [
    ("clusters", "delete", {"cluster_id": "0515-010532-abc123"}, "cluster 0515-010532-abc123"),
    ("clusters", "create", {"cluster_name": "etl", "spark_version": "14.3.x"}, "cluster etl"),
    ("jobs", "runFailed", {"jobId": "42", "runId": "7", "clusterId": "0515-1", "jobTerminalState": "Failed"}, "job 42"),
    ("jobs", "delete", {"job_id": 42}, "job 42"),  # a number written as one
    ("unityCatalog", "deleteTable", {"full_name_arg": "main.sales.orders", "workspace_id": "1"}, "main.sales.orders"),
    ("databrickssql", "deleteQuery", {"queryId": "q-9"}, "query q-9"),
    ("deltaPipelines", "edit", {"pipeline_id": "p-1", "cluster_id": "c-2"}, "pipeline p-1"),
])
def test_message_names_a_non_file_object(service, action, params, named, assert_ecs):
    raw, _ = make_record(service, action, "diagnostic", params=params)
    (ev,) = DatabricksParser().parse(raw)
    assert_ecs(ev, "databricks")
    outcome = ev["event"].get("outcome")
    assert ev["message"] == f"ada@example.com: {service}.{action} {named}" + (f" ({outcome})" if outcome else "")
    assert ev["databricks"]["request_params"] == params


def test_a_file_is_named_by_its_path_not_by_another_key(assert_ecs):
    raw, _ = make_record("notebook", "deleteNotebook", "diagnostic", params={"notebookId": "1", "path": "/Shared/nb"})
    (ev,) = DatabricksParser().parse(raw)
    assert_ecs(ev, "databricks")
    assert ev["message"].startswith("ada@example.com: notebook.deleteNotebook /Shared/nb")
    assert "notebook 1" not in ev["message"]
