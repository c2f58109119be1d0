"""`id_field`, an output's option naming where each record carries its event's stable id (fluentd,
stdout): for a reader that stores or drops repeats by it (fluent-plugin-elasticsearch's `id_key`, a
Vector or Logstash pipeline reading the agent's stdout). It must not name an ECS field: the id would
overwrite what the event says there."""
from __future__ import annotations

from shipper.api import ecs_field_types


def refuse_ecs_field(v: str | None) -> str | None:
    """A pydantic validator's body: `v` unless its first part is an ECS field set's (then ValueError)."""
    if v is not None and v.split(".", 1)[0] in {f.split(".", 1)[0] for f in ecs_field_types()["fields"]}:
        raise ValueError(f"{v!r} is an ECS field the events carry: the id would overwrite it; "
                         "name a field of your own (e.g. _shipper_id)")
    return v
