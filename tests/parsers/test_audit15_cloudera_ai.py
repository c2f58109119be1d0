"""Issue 15 audit, Cloudera AI: held-out records read as an auditor would (docs/ecs-conventions.md)."""
from __future__ import annotations

import orjson
import pytest

from shipper_plugins.parsers.cloudera_ai import ClouderaAIParser


@pytest.mark.parametrize("name", ["user login", "user logout"])
def test_message_of_a_login_says_its_outcome(name, assert_ecs):
    # Conventions, "Context": the message is one line "actor: action target path (outcome)", as the
    # other products write it ("admin: AUTHENTICATION LOGIN (success)"); a login always has an outcome.
    raw = orjson.dumps({"id": 7, "user_id": "3f1b6c8e-0c1e-4a1e-9c55-1d2f3a4b5c6d", "ipaddr": "10.20.30.40",
                        "event_name": name, "description": "username: alice, NORMAL, LDAP",
                        "created_at": "2024-05-01 10:11:12"})
    [ev] = ClouderaAIParser().parse(raw)
    assert_ecs(ev, "cloudera_ai")
    assert ev["event"]["outcome"] == "success"
    assert ev["message"] == f"alice: {name} (success)"


@pytest.mark.parametrize("name", ["experiment run cancelled", "stopped all runs for job"])
def test_a_cancellation_is_the_actors_success(name, assert_ecs):
    # Seed tables 3 and 6: "experiment run cancelled", "stopped all runs for job". Conventions, "Outcome
    # order": a cancellation recorded as the actor's action is success (the cancel was done); "did it
    # work" must have an answer for the event that ends a run.
    raw = orjson.dumps({"id": 8, "user_id": "3f1b6c8e-0c1e-4a1e-9c55-1d2f3a4b5c6d", "ipaddr": "10.20.30.40",
                        "event_name": name, "description": "username: alice, NORMAL",
                        "created_at": "2024-05-01 10:11:12"})
    [ev] = ClouderaAIParser().parse(raw)
    assert_ecs(ev, "cloudera_ai")
    assert ev["event"]["category"] == ["process"] and ev["event"]["type"] == ["end"]
    assert ev["event"]["outcome"] == "success"
    assert ev["message"] == f"alice: {name} (success)"


def _row(name: str, description) -> bytes:
    return orjson.dumps({"id": 9, "user_id": "3f1b6c8e-0c1e-4a1e-9c55-1d2f3a4b5c6d", "ipaddr": "10.20.30.40",
                         "event_name": name, "description": description, "created_at": "2024-05-01 10:11:12"})


# Made-up descriptions (the layout is not public): every shape the reader takes — `key: value` text,
# `key=value` text with quotes, a JSON object as text, a JSON column (an object) — naming what was acted on.
MEMBER_SHAPES = [
    "username: alice, team member: bob, team: data-eng, user type: ADMIN",
    "username=alice; member='bob'; team_name=\"data-eng\"",
    '{"username": "alice", "teamMember": "bob", "teamName": "data-eng"}',
    {"userName": "alice", "member_username": "bob", "team": "data-eng"},
]


@pytest.mark.parametrize("description", MEMBER_SHAPES)
def test_team_member_added_names_member_and_team(description, assert_ecs):
    # Conventions, "Membership": the member is user.target, the team they join its group; the actor stays the
    # username (a `member` key's user name is never read as the actor's)
    [ev] = ClouderaAIParser().parse(_row("add member to team", description))
    assert_ecs(ev, "cloudera_ai")
    assert ev["user"]["name"] == "alice"
    assert ev["user"]["target"] == {"name": "bob", "group": {"name": "data-eng"}}
    assert "group" not in ev
    assert ev["related"]["user"] == ["alice", "3f1b6c8e-0c1e-4a1e-9c55-1d2f3a4b5c6d", "bob"]
    assert ev["event"]["category"] == ["iam"] and "group" in ev["event"]["type"]
    assert ev["message"] == "alice: add member to team user bob group data-eng"


@pytest.mark.parametrize("description", [
    "collaborator username: carol, username: alice, project: churn",  # the target's key first: still not the actor
    "Shared with user: carol; project name: churn; username: alice",
    '{"collaborator": "carol", "projectName": "churn", "username": "alice", "projectId": 42}',
])
def test_collaborator_and_sharee_are_the_target_and_the_project_is_named(description, assert_ecs):
    [ev] = ClouderaAIParser().parse(_row("collaborator added", description))
    assert_ecs(ev, "cloudera_ai")
    assert ev["user"]["name"] == "alice" and ev["user"]["target"] == {"name": "carol"}
    assert "carol" in ev["related"]["user"] and "alice" in ev["related"]["user"]
    assert ev["cloudera_ai"]["project"]["name"] == "churn"
    assert ev["message"].startswith("alice: collaborator added project churn user carol")


@pytest.mark.parametrize("description, path, name", [
    ("username: alice, file path: /home/cdsw/churn/train.py", "/home/cdsw/churn/train.py", "train.py"),
    ('{"username": "alice", "filePath": "/home/cdsw/data/"}', "/home/cdsw/data/", "data"),
    ({"username": "alice", "path": "notebooks/eda.ipynb", "project_id": "7"}, "notebooks/eda.ipynb", "eda.ipynb"),
])
def test_a_deleted_files_path(description, path, name, assert_ecs):
    [ev] = ClouderaAIParser().parse(_row("file deleted", description))
    assert_ecs(ev, "cloudera_ai")
    assert ev["file"] == {"path": path, "name": name}
    assert ev["event"]["category"] == ["file"] and ev["event"]["type"] == ["deletion"]
    assert ev["message"].endswith(f" {path}")


def test_a_file_name_alone_is_no_path(assert_ecs):
    [ev] = ClouderaAIParser().parse(_row("file deleted", "username: alice, file name: train.py"))
    assert_ecs(ev, "cloudera_ai")
    assert ev["file"] == {"name": "train.py"}


@pytest.mark.parametrize("description", [
    "alice added bob to team data-eng",  # free prose: nothing is guessed from it
    "username: alice, NORMAL",
    "the file /home/cdsw/x.py was removed by alice",
])
def test_nothing_is_promoted_from_free_prose(description, assert_ecs):
    [ev] = ClouderaAIParser().parse(_row("add member to team", description))
    assert_ecs(ev, "cloudera_ai")
    assert "target" not in ev.get("user", {})
    assert "group" not in ev and "file" not in ev
    assert "project" not in ev.get("cloudera_ai", {})
    assert ev["cloudera_ai"]["description"] == description
