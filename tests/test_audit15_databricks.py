"""Issue 15 audit, Azure Databricks: held-out records read as an auditor would (docs/ecs-conventions.md)."""
from __future__ import annotations

import pytest

from shipper_plugins.parsers.databricks import DatabricksParser
from tests.test_databricks import SHAPES, make_record


# Seed (notebook / workspace events): the documented request parameters of moves, renames and clones.
# Conventions, "to what": file.path / file.name. The object as it is after the action is the one an
# auditor looks for (as dbfs rename/move already put `dst`/`destination_path` in file.path).
@pytest.mark.parametrize("service,action,params,path,name", [
    ("notebook", "moveNotebook", {"notebookId": "1", "oldPath": "/Users/ada@example.com/nb", "newPath": "/Shared/nb"},
     "/Shared/nb", "nb"),
    ("notebook", "moveFolder", {"folderId": "2", "oldPath": "/Users/ada@example.com/reports", "newPath": "/Shared/reports"},
     "/Shared/reports", "reports"),
    ("notebook", "cloneNotebook", {"notebookId": "1", "path": "/Users/ada@example.com/nb", "clonedNotebookId": "3",
                                   "destinationPath": "/Shared/nb copy"}, "/Shared/nb copy", "nb copy"),
    ("workspace", "moveWorkspaceNode", {"path": "/Users/ada@example.com/x", "destinationPath": "/Shared/x"},
     "/Shared/x", "x"),
    ("workspace", "renameWorkspaceNode", {"path": "/Shared/old", "destinationPath": "/Shared/new"}, "/Shared/new", "new"),
])
@pytest.mark.parametrize("shape", SHAPES)
def test_path_of_a_moved_renamed_or_cloned_object(service, action, params, path, name, shape, assert_ecs):
    raw, _ = make_record(service, action, shape, params=params)
    (ev,) = DatabricksParser().parse(raw)
    assert_ecs(ev, "databricks")
    assert ev["file"]["path"] == path and ev["file"]["name"] == name
    assert ev["databricks"]["request_params"] == params  # the vendor's fields kept
    assert path in ev["message"]


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
