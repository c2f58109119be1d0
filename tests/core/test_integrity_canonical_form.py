"""The chain's canonical form (shipper.integrity.canonical): orjson's sorted output where it equals RFC 8785's,
on any JSON and on a plugin's own types (kept apart from tests/core/test_integrity.py, so that `make test`
runs the long property run beside that file's agent runs)."""
from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings, strategies as st

pytestmark = pytest.mark.slow


_json_like = st.text(alphabet='":,[]{}0123456789.eE-+\\ ', max_size=12)  # strings that look like tokens
_any_json = st.recursive(
    st.none() | st.booleans() | st.integers(-2**63, 2**63 - 1) | st.floats() | st.text() | _json_like
    | st.sampled_from([2**53 - 1, 2**53, -2**53, 10**15, 10**16 - 1, 1.0, -0.0, 1e16, 5e-324]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4) | _json_like, inner, max_size=4),
    max_leaves=12)


@settings(max_examples=3000, deadline=None)
@given(st.dictionaries(st.text(max_size=4), _any_json, max_size=5))
def test_property_the_fast_canonical_form_is_rfc_8785(doc):
    """canonical() takes orjson's sorted output where it equals RFC 8785's: it must, on any JSON."""
    import rfc8785

    from shipper.integrity import _normalised, canonical

    stored = orjson.loads(orjson.dumps(doc))
    try:
        expected = rfc8785.dumps(stored)
    except rfc8785.IntegerDomainError:
        expected = rfc8785.dumps(_normalised(stored))
    assert canonical(doc) == expected


def test_types_of_their_own_are_hashed_as_a_reader_of_the_stored_json_sees_them():
    """A datetime, a dataclass, subclasses of str/int/dict/list (a plugin's parser may emit them) are
    hashed as a reader of the stored JSON sees them (orjson's JSON of them, read back), as before the fast
    path took orjson's sorted bytes without the walk: orjson writes a dataclass's fields unsorted."""
    import dataclasses
    import datetime

    import rfc8785

    from shipper.integrity import canonical

    @dataclasses.dataclass
    class Point:
        y: int
        x: int

    class Text(str):
        pass

    class Mapping(dict):
        pass

    doc = {"t": datetime.datetime(2026, 12, 4, 21, 0, 0, 123000), "p": Point(2, 1), "s": Text("x"),
           "m": Mapping(b=1, a=2), "u": [Text("é")]}
    assert canonical(doc) == rfc8785.dumps(orjson.loads(orjson.dumps(doc, default=str)))
    assert canonical(doc).index(b'"x"') < canonical(doc).index(b'"y"')
