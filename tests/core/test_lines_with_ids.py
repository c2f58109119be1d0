"""`lines_with_ids(batch, field)`: each event's line with its stable id added under `field`, from the
event dicts or from a parse worker's pre-serialised lines alike; a field of the event's own is never
overwritten (counted instead), and the event dicts are never changed."""
from __future__ import annotations

import copy

import orjson
from hypothesis import given, settings, strategies as st

from shipper.api import Batch, lines_with_ids, serialize_event

FIELD = "_shipper_id"
VALUES = st.recursive(st.none() | st.booleans() | st.integers(-2**63, 2**63 - 1) | st.text(max_size=6),
                      lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
                      max_leaves=8)
# Keys that mention the field (top level, nested, inside a value) as well as any other.
KEYS = st.sampled_from([FIELD, "a", "event", f'x"{FIELD}"']) | st.text(max_size=6)
EVENT = st.dictionaries(KEYS, VALUES | st.dictionaries(st.sampled_from([FIELD, "b"]), VALUES, max_size=2), max_size=4)


@settings(max_examples=200, deadline=None)
@given(events=st.lists(EVENT, max_size=6), pre_serialised=st.booleans())
def test_each_line_is_its_event_with_the_id_unless_the_event_has_the_field(events, pre_serialised):
    ids = [f"{i:032x}" for i in range(len(events))]
    before = copy.deepcopy(events)
    lines = b"".join(map(serialize_event, events)) if pre_serialised else None
    data, left = lines_with_ids(Batch("s", "t", events, ids, 0, lines=lines), FIELD)
    assert data == b"" if not events else data.endswith(b"\n")
    got = [orjson.loads(l) for l in data.splitlines()]
    assert got == [ev if FIELD in ev else {**ev, FIELD: id_} for ev, id_ in zip(events, ids)]
    assert list(map(list, got)) == [list(ev) if FIELD in ev else [*ev, FIELD] for ev in events]  # id last
    assert left == sum(FIELD in ev for ev in events)
    assert events == before  # the shared event dicts are not changed
