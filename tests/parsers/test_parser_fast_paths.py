"""Issue 19's fast paths in the parsers' helpers say what the general path says, for every input they take."""
from __future__ import annotations

import ipaddress
import re
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import orjson
from hypothesis import example, given, settings, strategies as st

from shipper import ecs
from shipper_plugins.parsers import cloudera_ai, databricks

# No deadline: a loaded 2-core machine makes a quick example slow (the first one pays for imports)
quick = settings(deadline=None)


def _general(value: int) -> str:
    return ecs.iso_utc(datetime.fromtimestamp(value / 1000 if value > 1e11 else value, tz=timezone.utc))


@quick
@given(st.integers(min_value=0, max_value=ecs._EXACT_EPOCH_MS - 1))
@example(0)
@example(100_000_000_000)  # the last value read as seconds
@example(100_000_000_001)  # the first read as milliseconds
@example(1_700_000_000_999)
@example(ecs._EXACT_EPOCH_MS - 1)
def test_epoch_numbers_by_arithmetic_are_what_datetime_says(value):
    assert ecs.vendor_time(value) == _general(value)


@quick
@given(st.integers(min_value=ecs._EXACT_EPOCH_MS, max_value=253_402_300_799_999))
def test_epoch_numbers_beyond_the_fast_path_still_read(value):
    assert ecs.vendor_time(value) == _general(value)


@quick
@given(st.text(alphabet="0123456789-:T .+ZzUTCEST\t٣", max_size=30))
@example("2023-11-14T22:13:20Z")
@example("2023-11-14 Z")
@example("2023-11-1Z")
@example("2023-11-14T22:13:20.000456")
@example("2023-11-14 22:13:20+0200")
@example("2023-11-14 22:13:20 CEST")
def test_names_no_zone_fast_path_agrees_with_the_suffix_search(text):
    s = text.strip()
    general = len(s) >= 8 and not s.isdigit() and (len(s) <= 10 or ecs._ZONE_SUFFIX.search(s[-9:]) is None)
    assert ecs.names_no_zone(text) == general


_two = lambda lo, hi: st.integers(lo, hi).map(lambda v: f"{v:02d}")  # noqa: E731  (hi: just past the valid range)
# the usual times (what ecs._usual_time reads: a day, T or space, a time, a fraction, Z / +00[[:]00] or nothing) and others
_times = st.one_of(
    st.builds("{}-{}-{}{}{}:{}:{}{}{}".format, st.integers(999, 10_000).map(str), _two(0, 13), _two(0, 32),
              st.sampled_from("T t"), _two(0, 24), _two(0, 60), _two(0, 60),
              st.sampled_from(["", ".5", ".123", ".123456", ".123456789", ".1234567890", "."]),
              st.sampled_from(["", "Z", "z", "+00", "+0000", "+00:00", "+02:00", "-0500", " UTC", " ", "Z "])),
    st.text(alphabet="0123456789-:T .+ZzUTCEST\t٣", max_size=30),
    st.integers(-10, 2**63), st.floats(), st.none(), st.booleans())
_zones = st.sampled_from([timezone.utc, ZoneInfo("UTC"), ZoneInfo("Etc/UTC"), ZoneInfo("Europe/Berlin"),
                          ZoneInfo("America/New_York"), timezone(timedelta(hours=-3))])


@quick
@given(_times, _zones)
@example("2024-05-01 10:00:00.123+00", ZoneInfo("Europe/Berlin"))
@example("2024-05-01T10:00:00", ZoneInfo("Europe/Berlin"))
@example("2024-02-30T10:00:00Z", timezone.utc)
@example("2024-05-01T10:00:00.5 ", timezone.utc)
def test_vendor_time_and_zoneless_says_what_the_two_say(value, zone):
    assert ecs.vendor_time_and_zoneless(value, zone) == (ecs.vendor_time(value, zone), ecs.names_no_zone(value))


@quick
@given(st.one_of(st.ip_addresses(v=4).map(str), st.ip_addresses(v=6).map(str),
                 st.sampled_from(["127.0.0.1", "::1", "::ffff:127.0.0.1", "127.255.0.9/32"])))
def test_cloudera_ai_loopback_without_an_address_object(text):
    ips, _, loopback = cloudera_ai._read_ipaddr(text)
    assert loopback == ipaddress.ip_address(ips[0]).is_loopback


@quick
@given(st.one_of(st.ip_addresses(v=4).map(str), st.ip_addresses(v=6).map(str),
                 st.text(alphabet="0123456789.:/, \t", max_size=24)))
@example("127.0.0.1")
@example(" 10.0.0.1")
@example("10.0.0.1:8080")
@example("010.0.0.1")
@example("10.0.0.1, 127.0.0.1")
@example("::1")
def test_cloudera_ai_one_ipv4_says_what_the_general_reader_says(text):
    # _ips reads one IPv4 address in clean_ip's own text without _read_ipaddr and its memo: the event says
    # what _read_ipaddr says
    p = cloudera_ai.ClouderaAIParser()
    [ev] = p.parse(orjson.dumps({"id": 1, "ipaddr": text, "event_name": "user login", "created_at": "2024-05-01T10:11:12Z"}))
    if text:
        ips, keep_text, loopback = cloudera_ai._read_ipaddr(text)
        ca = ev.get("cloudera_ai", {})
        assert ev.get("source") == ({"ip": ips[0]} if ips else None)
        assert ca.get("ipaddr") == (text if keep_text else None) and ca.get("internal") == (loopback if ips else None)
        assert ("cloudera_ai_internal" in ev.get("tags", ())) == bool(ips and loopback)
    if _is_ipv4(text) and text == str(ipaddress.ip_address(text)):
        assert text not in p._addresses  # the usual ipaddr takes the fast path


def _is_ipv4(text: str) -> bool:
    try:
        return ipaddress.ip_address(text).version == 4
    except ValueError:
        return False


# The description reader's pairs before issue 19 (a lazy key): the greedy key finds the same pairs, its key
# at most followed by spaces that the names made of it strip.
_LAZY_PAIR = re.compile(
    r"""(?P<key>[A-Za-z][A-Za-z _-]{0,30}?)\s*[:=]\s*(?:"(?P<dq>[^"]*)"|'(?P<sq>[^']*)'|(?P<bare>[^,;\n]*))"""
)


@quick
@given(st.text(alphabet="ab Z_-:=,;\"'\n\t.1", max_size=80))
@example("model: churn-v0, model id: 0, user type: ADMIN, username: alice.0000")
@example("a" * 30 + "     : x, b\t: y")
def test_cloudera_ai_greedy_key_finds_the_lazy_keys_pairs(text):
    greedy = cloudera_ai._PAIR.findall(text)
    lazy = _LAZY_PAIR.findall(text)
    assert [(k.rstrip(" "), *rest) for k, *rest in greedy] == lazy
    assert [cloudera_ai._names_of_key(k) for k, *_ in greedy] == [cloudera_ai._names_of_key(k) for k, *_ in lazy]


def test_cloudera_ai_description_keys_each_name_one_field():
    # _pick_fields reads a field's value by the key's place in that field's order: a key in two fields' lists
    # would give only one of them
    assert len(cloudera_ai._KEY_FIELD) == sum(len(keys) for _, keys in cloudera_ai._FIELD_KEYS)


def _object_named_reference(rp: dict):
    """The most preferred OBJECT_KEYS key whose value _str makes text of, by the definition."""
    for key, word in databricks.OBJECT_KEYS:
        text = databricks._str(rp.get(key))
        if text:
            return f"{word} {text}" if word else text
    return None


_rp_values = st.one_of(st.none(), st.just(""), st.text(max_size=5), st.integers(), st.booleans(),
                       st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=2), st.integers(), max_size=1))


@quick
@given(st.dictionaries(st.sampled_from([k for k, _ in databricks.OBJECT_KEYS] + ["name", "orgId", "path"]), _rp_values))
def test_databricks_object_named_in_one_pass_is_the_preferred_one(rp):
    assert databricks._object_named(rp) == _object_named_reference(rp)


def _description_fields_reference(text: str, want_auth: bool) -> dict[str, str]:
    """Each field's value by the definition: the names a key stands for take their first pair's value; a
    field takes the value of its most preferred key that has one."""
    first: dict[str, str] = {}
    for key, dq, sq, bare in cloudera_ai._PAIR.findall(text):
        for name in cloudera_ai._names_of_key(key):
            first.setdefault(name, (dq or sq or bare).strip())
    out = {}
    for field, keys in cloudera_ai._FIELD_KEYS:
        given = [first[k] for k in keys if first.get(k)]
        if given and (want_auth or field != "auth_method"):
            out[field] = given[0]
    return out


_description_keys = st.sampled_from([k for _, keys in cloudera_ai._FIELD_KEYS for k in keys] + ["id", "user type", "note"]) \
    .flatmap(lambda k: st.sampled_from([k, k.replace("_", " "), k.title(), f"the {k}"]))
_description_values = st.sampled_from(["", " ", "alice", "ADMIN", "NORMAL", "ldap", "/a/b.txt", '"q, v"', "'s'"])


@quick
@given(st.lists(st.tuples(_description_keys, st.sampled_from([": ", "=", " : "]), _description_values), max_size=6)
       .map(lambda pairs: ", ".join(k + sep + v for k, sep, v in pairs)), st.booleans())
@example("model: churn-v0, model id: 0, user type: ADMIN, username: alice.0000", False)
@example("username: , user: bob, login: carol", True)
def test_cloudera_ai_description_plan_per_key_shape_picks_what_the_definition_picks(text, want_auth):
    # The fields are planned once per (keys, which have a value): the plan, cold or remembered, picks each
    # field's value as the definition does.
    matches = cloudera_ai._PAIR.findall(text)
    values = [(dq or sq or bare).strip() for _, dq, sq, bare in matches]
    shape = (tuple(m[0] for m in matches), tuple(map(bool, values)), want_auth)
    want = _description_fields_reference(text, want_auth)
    assert {name: values[i] for name, i in cloudera_ai._plan_fields(*shape)} == want
    for _ in range(2):  # first read and remembered plan
        got = cloudera_ai._read_description(text, want_auth)
        assert {k: v for k, v in got.items() if k not in ("user_type", "auth_method")} == \
            {k: v for k, v in want.items() if k not in ("user_type", "auth_method")}
