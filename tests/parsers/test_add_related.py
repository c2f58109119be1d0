"""shipper.ecs.add_related (made cheaper for issue 19) says what the plain loop says: values as text, each
once, in order, after what the event held; no empty `related` left behind."""
from __future__ import annotations

import copy

from hypothesis import given, strategies as st

from shipper.ecs import add_related


def _plain(event: dict, users=(), ips=()) -> None:
    rel = event.setdefault("related", {})
    for kind, values in (("user", users), ("ip", ips)):
        for v in values:
            if v is None or v == "":
                continue
            v = str(v)
            bucket = rel.setdefault(kind, [])
            if v not in bucket:
                bucket.append(v)
    if not rel:
        del event["related"]


values = st.lists(st.one_of(st.none(), st.just(""), st.text(max_size=3), st.integers(-2, 2), st.booleans()), max_size=6)
before = st.one_of(st.none(), st.fixed_dictionaries({}, optional={"user": st.lists(st.text(max_size=2), max_size=2),
                                                                  "ip": st.lists(st.just("10.0.0.1"), max_size=1)}))


@given(values, values, before)
def test_add_related_says_what_the_plain_loop_says(users, ips, related):
    event: dict = {"event": {}} if related is None else {"related": related, "event": {}}
    want = copy.deepcopy(event)
    _plain(want, users, ips)
    add_related(event, users, ips)
    assert event == want and list(event) == list(want)
