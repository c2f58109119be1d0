"""Issue 15 audit, Posit Connect: held-out records read as an auditor would (docs/ecs-conventions.md)."""
from __future__ import annotations

import random

import orjson
import pytest

from shipper.ecs_schema import flatten
from shipper_plugins.outputs.elasticsearch_ingest_pipeline import namespace_mapping
from shipper_plugins.outputs.elasticsearch_server import Server
from shipper_plugins.parsers.posit_connect import PositConnectParser
from tests.parsers.test_posit_connect import make_record
from tests.vendor_lists import posit_connect_events


def test_new_owner_of_a_group_is_the_target_user(assert_ecs):
    # Seed: edit_group carries new_owner_id / previous_owner_id. Conventions, "Ownership": ownership
    # moved to someone puts the new owner in user.target.*; the group stays group.*.
    line = (b'time="2024-01-02T03:04:05.678Z" level=info msg="Edited group" action=edit_group actor_id=1 '
            b'actor_guid=a-1 actor_role=administrator actor_description="Ada L (ada)" entry_id=10 group_id=3 '
            b'group_guid=g-3 group_name=Pubs previous_name=Pubs new_name=Pubs previous_owner_id=1 new_owner_id=2 '
            b'type=audit')
    (ev,) = PositConnectParser().parse(line)
    assert_ecs(ev, "posit_connect")
    assert ev["user"]["name"] == "ada"
    assert ev["user"]["target"]["id"] == "2"
    assert ev["group"] == {"id": "3", "name": "Pubs"}
    assert ev["posit_connect"]["new_owner_id"] == 2 and ev["posit_connect"]["previous_owner_id"] == 1


def test_a_group_renamed_by_its_owner_has_no_target(assert_ecs):
    line = (b'time="2024-01-02T03:04:05.678Z" level=info msg="Edited group" action=edit_group actor_id=1 '
            b'actor_guid=a-1 actor_role=administrator actor_description="Ada L (ada)" entry_id=11 group_id=3 '
            b'group_guid=g-3 group_name=Pubs previous_name=Pubs new_name=Publishers previous_owner_id=1 '
            b'new_owner_id=1 type=audit')
    (ev,) = PositConnectParser().parse(line)
    assert_ecs(ev, "posit_connect")
    assert "target" not in ev["user"] and ev["group"] == {"id": "3", "name": "Pubs"}


def test_edit_user_keeps_a_recorded_role_that_is_neither_previous_nor_new(assert_ecs):
    # Every vendor value kept: user_role is promoted to user.target.roles, but previous_user_role takes
    # that place on edit_user; a user_role differing from both was lost.
    line = (b'time="2024-01-02T03:04:05.678Z" level=info msg="Edited user" action=edit_user actor_id=1 '
            b'actor_guid=g1 actor_role=administrator actor_description="Ada Admin (ada)" entry_id=9 user_id=5 '
            b'user_guid=g5 user_role=editor previous_user_role=viewer new_user_role=publisher type=audit')
    (ev,) = PositConnectParser().parse(line)
    assert_ecs(ev, "posit_connect")
    assert ev["user"]["target"]["roles"] == ["viewer"] and ev["user"]["changes"]["roles"] == ["publisher"]
    assert ev["posit_connect"]["user_role"] == "editor"


@pytest.mark.parametrize("system", [False, True])
def test_every_documented_field_is_searchable(system):
    # `shipper setup elasticsearch` maps posit_connect.* with `dynamic: false`: a field the parser writes
    # but does not declare is stored, not indexed -- an auditor cannot search it (user_role on edit_user
    # was one). Every field of every documented event (seed "Audited events") the parser writes under
    # posit_connect.* is declared, with a type its value fits.
    seed = posit_connect_events()
    props = namespace_mapping("posit_connect", Server("elasticsearch", "9.1.5"))["properties"]
    fits = {"keyword": (str, int), "long": (int,)}
    rnd = random.Random(15)
    for action, fields in seed.items():
        (ev,) = PositConnectParser().parse(orjson.dumps(make_record(action, fields, 1, system, rnd)))
        for name, value in flatten(ev["posit_connect"]):
            assert name in props, f"{action}: posit_connect.{name} is not searchable"
            kind = props[name]["type"]
            assert isinstance(value, fits[kind]) and not isinstance(value, bool), (action, name, kind, value)
    assert props["user_role"]["type"] == "keyword"
