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
