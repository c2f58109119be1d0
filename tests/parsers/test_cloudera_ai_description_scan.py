"""The Cloudera AI description reader's linear key scan (`_pairs`) finds exactly what the regex's own
findall finds, on any text (hypothesis), including texts past the short-text shortcut."""
from __future__ import annotations

from hypothesis import given, settings, strategies as st

from shipper_plugins.parsers.cloudera_ai import _PAIR, _pairs, _read_description

# The characters the key/value grammar cares about, plus a Unicode space (\s) and letters of other scripts.
ALPHABET = st.sampled_from(list("aZx _-:=\"',;\n\t1\u2003é") + ["user type", "username", "NORMAL", " " * 40])
TEXTS = st.lists(ALPHABET, max_size=300).map("".join)


@settings(max_examples=600, deadline=None)
@given(TEXTS)
def test_pairs_equal_findall(text):
    assert _pairs(text) == _PAIR.findall(text)


def test_long_runs_before_a_separator():
    for text in ["a" + " " * 5000 + ": x", "k" * 5000 + ": v", "user name" + "\t" * 3000 + "= 'q', b: 1",
                 ("a" * 40 + ":") * 200, "-" * 3000 + "a:b", '"' * 10 + "x: \"unclosed, y: 2"]:
        assert _pairs(text) == _PAIR.findall(text)


def test_a_huge_description_reads_the_same_pairs_as_a_short_one():
    head = "username: alice, user type: ADMIN, "
    short = _read_description(head + "x" * 10)
    huge = _read_description(head + "x" * 2_000_000)
    assert short["username"] == huge["username"] == "alice"
    assert short["user_type"] == huge["user_type"] == "ADMIN"
