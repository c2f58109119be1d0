"""The Cloudera AI description reader's linear key scan (`_pairs`) finds exactly what the regex's own
findall finds, on any text (hypothesis), including texts past the short-text shortcut; so does its reading of
the usual unquoted `key: value, …` text by str.split and str.partition (`_plain_pairs`), where it reads one, and
what its shape's plan takes from that reading is what the fields of the findall reading give (_planned_details)."""
from __future__ import annotations

from hypothesis import example, given, settings, strategies as st

from shipper_plugins.parsers.cloudera_ai import (
    _PAIR,
    _WHOLE_KEY,
    _details,
    _details_of_fields,
    _names_of_key,
    _pairs,
    _plain_pairs,
    _plain_plan,
    _read_description,
)

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


def _plain_reading(text: str) -> tuple[list[str], list[str]] | None:
    """The keys and stripped values _read_description takes from _plain_pairs, or None where it asks findall
    (_plain_pairs says no, or a head is not whitespace then a key: _plain_plan is None)."""
    plain = _plain_pairs(text)
    if plain is None:
        return None
    heads, values = plain
    if _plain_plan(tuple(heads), None, True) is None:
        return None
    assert all(_WHOLE_KEY.fullmatch(h) for h in heads)
    # the plan is made of the heads as written: their names are the keys' (the leading whitespace changes none)
    assert [_names_of_key(h) for h in heads] == [_names_of_key(h.lstrip()) for h in heads]
    return [h.lstrip() for h in heads], values


def _findall_reading(text: str) -> tuple[list[str], list[str]]:
    matches = _PAIR.findall(text)
    return [m[0] for m in matches], [(dq or sq or bare).strip() for _, dq, sq, bare in matches]


_LETTERS = "abcxyzABZ"
# keys of 1-40 characters (past _PAIR's 31), starting with a letter or not, with spaces, dashes, underscores
_KEYS = st.text(alphabet=_LETTERS + " _-", min_size=1, max_size=40) | st.sampled_from(
    ["username", "user type", "model id", "Model-Name", "x", "a" * 31, "a" * 32, "user name   ", "1user", "é"])
_SPACES = st.sampled_from(["", " ", "  ", "\t", "\u2003", "\u00a0", "\x1c", "\u3000 "])
# text before a key in its part: words, digits, punctuation, other scripts
_BEFORE = st.sampled_from(["", "", "", "Created by ", "job 42 by ", "x.", "é ", "ſ", "- ", "1", "(note) "])
_VALUES = st.text(alphabet=_LETTERS + " 0123456789.-/:=\"'éß\u2003\t;\n", max_size=12) | st.sampled_from(
    ["", " ", "NORMAL", "churn-v3", "alice.0001", "'quoted, with comma'", '"dq, v"', "a: b", "k=v"])
_PART = st.tuples(_BEFORE, _SPACES, _KEYS, _SPACES, st.sampled_from([":", ": ", " : ", "=", ":\t"]), _SPACES,
                  _VALUES).map("".join) | st.text(alphabet=_LETTERS + " :,.", max_size=10)
_JOINS = st.sampled_from([", ", ",", ", ", ";", "\n", " , "])
_DESCRIPTIONS = st.lists(st.tuples(_PART, _JOINS), max_size=6).map(lambda ps: "".join(p + j for p, j in ps)[:-1] if ps else "")


@settings(max_examples=2000, deadline=None)
@given(_DESCRIPTIONS | TEXTS)
@example("model: churn-v3, model id: 12, user type: NORMAL, username: bob.2919")
@example("Logged in as user: bob, note, role: ADMIN,")
@example("a" * 31 + ": x, " + "b" * 32 + ": y")
@example("user name  : x, \u2003model:, é: z")
def test_plain_reading_equals_findall(text):
    plain = _plain_reading(text)
    if plain is not None:
        assert plain == _findall_reading(text)


def test_the_usual_descriptions_take_the_plain_reading():
    # what the plain reading is for: not a path no description takes
    for text in ["model: churn-v3, model id: 12, user type: NORMAL, username: bob.2919",
                 "Logged in as user: bob, note, role: ADMIN,", "username:, user type:NORMAL ",
                 "Added collaborator: carol to project: p1 (id 7)", "username  : alice\u2003, model: m:1"]:
        assert _plain_reading(text) == _findall_reading(text)
    for text in ["username=bob", "username: 'bob, jr'", "a: 1; b: 2", "a: 1\nb: 2", "9lives: x", "a" * 32 + ": x"]:
        assert _plain_reading(text) is None


_LOGIN_WORDS = st.sampled_from(["LDAP", "saml", "ſaml", "Local", "NORMAL", "admin", "ADMIN", "role", "auth", "auth method",
                                "collaborator", "file path", "/a/b/", "project id", "team", "member", "model id"])


@settings(max_examples=2000, deadline=None)
@given(_DESCRIPTIONS | TEXTS | st.lists(_PART | _LOGIN_WORDS | _JOINS, max_size=12).map("".join), st.booleans())
@example("model: churn-v3, model id: 12, user type: NORMAL, username: bob.2919", False)
@example("username: zoe, auth: ſaml, role: admin", True)
@example("project id: 7, file path: /a/b/, collaborator: carol, team: t, model: m", True)
@example("user type: superuser NORMAL, method: local user", True)
@example("username: zoe, auth method: password, group: LDAP users", True)  # the keyed value has no method: none
@example("{}", True)
def test_a_plain_description_read_by_its_shape_plan_gives_what_its_fields_give(text, want_auth):
    # _details reads a plain description by its shape's plan (_planned_details), without the dict of fields that
    # _read_description makes (held to the reference reading by tests/parsers/test_cloudera_ai.py)
    for _ in range(2):  # the plan made, then remembered
        assert _details(text, want_auth) == _details_of_fields(_read_description(text, want_auth), want_auth)


def test_the_usual_descriptions_are_read_by_a_plan():
    for text in ["model: churn-v3, model id: 12, user type: NORMAL, username: bob.2919",
                 "username: zoe, auth method: LDAP", "Added collaborator: carol to project: p1 (id 7)"]:
        heads, values = _plain_pairs(text)
        assert _plain_plan(tuple(heads), None, True) is not None
