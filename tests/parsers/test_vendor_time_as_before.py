"""shipper.ecs reads the usual times with datetime.fromisoformat (issue 19, session 25): every text, valid or
not, in every zone, gets the same @timestamp and the same "names no zone" as the regex and day check it replaced
(kept here as the reference), None for the same bad input."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given, settings, strategies as st

from shipper import ecs

pytestmark = pytest.mark.slow  # (tens of seconds: `make test` hands it out with the slow files, early)

# session 24's fast path, as it was (shipper/ecs.py at d671494), without its day memo
_UTC_TEXT = re.compile(r"([1-9]\d{3})-(\d\d)-(\d\d)[T ]([01]\d|2[0-3]):([0-5]\d):([0-5]\d)(?:\.(\d{1,9}))?"
                       r"(Z|\+00(?::?00)?)?", re.ASCII)


def _utc_match_text(m: re.Match, s: str) -> str | None:
    try:
        datetime(int(m[1]), int(m[2]), int(m[3]))
    except ValueError:
        return None
    frac = m[7]
    return f"{s[:10]}T{s[11:19]}.{(frac + '00')[:3] if frac else '000'}Z"


def old_vendor_time(value: Any, zone: tzinfo) -> str | None:
    try:
        if value.__class__ is str:
            m = _UTC_TEXT.fullmatch(value)
            if m is not None and (m[8] is not None or ecs._is_utc(zone)):
                fast = _utc_match_text(m, value)
                if fast is not None:
                    return fast
        elif value.__class__ is int and 0 <= value < ecs._EXACT_EPOCH_MS:
            return ecs._epoch_text(value)
    except (ValueError, OverflowError, OSError):
        return None
    return ecs._general_time(value, zone)


def old_vendor_time_and_zoneless(value: Any, zone: tzinfo) -> tuple[str | None, bool]:
    if value.__class__ is str:
        m = _UTC_TEXT.fullmatch(value)
        if m is not None:
            zoneless = m[8] is None
            if not zoneless or ecs._is_utc(zone):
                iso = _utc_match_text(m, value)
                if iso is not None:
                    return iso, zoneless
            return ecs._general_time(value, zone), zoneless
    return old_vendor_time(value, zone), ecs.names_no_zone(value)


def _two(lo: int, hi: int) -> st.SearchStrategy[str]:
    return st.integers(lo, hi).map(lambda v: f"{v:02d}")


_digits = st.text(alphabet="0123456789", min_size=1, max_size=12)
# the usual shape, each part valid or just not (year 0000 and 0999, month 13, Feb 30, hour 24, second 60, a
# fraction of 0 to 12 digits or a comma's), with every suffix and separator the writers use and some they do not
usual = st.builds(
    "{}-{}-{}{}{}:{}:{}{}{}".format,
    st.one_of(st.integers(1, 9999).map(lambda y: f"{y:04d}"), st.sampled_from(["0000", "0999", "1000", "9999"])),
    _two(0, 13), _two(0, 32), st.sampled_from(["T", " ", "t", "x", "_"]), _two(0, 24), _two(0, 60), _two(0, 60),
    st.one_of(st.just(""), _digits.map(lambda d: "." + d), _digits.map(lambda d: "," + d), st.just(".")),
    st.sampled_from(["", "Z", "z", "+00", "+0000", "+00:00", "-00:00", "-00", "-0000", "+00:00:00", "+00:00:00.000001",
                     "+000000", "+01:00", "-05:00", "+0100", "+02", "+00:01", "+23:59", " UTC", " ", "Z ", "ZZ", "+00Z"]))
# a usual time with one character put in, taken out or changed (a week date's W, other scripts' digits, signs, marks)
_odd = st.sampled_from(list("0123456789-:T .,+ZzW٣\t") + ["\ud800", "é"])


@st.composite
def mutated(draw: st.DrawFn) -> str:
    text = draw(usual)
    i = draw(st.integers(0, len(text)))
    how = draw(st.sampled_from(["put", "drop", "change"]))
    c = draw(_odd)
    if how == "put":
        return text[:i] + c + text[i:]
    if how == "drop":
        return text[:i] + text[i + 1:]
    return text[:i] + c + text[i + 1:]


texts = st.one_of(usual, mutated(), st.text(alphabet="0123456789-:T .+ZzUW٣", max_size=30),
                  st.sampled_from(["2024-W18-3T10:00:00.123", "2024-W18-3 10:00:00", "20240501T100000", "2024-05-01",
                                   "2024-05-01T10", "2024-05-01T10:00", "2024-05-01T10:00Z", " 2024-05-01T10:00:00Z",
                                   "2024-05-01T10:00:00Z ", "2024-05-01T10:00:00.123456+00:00", "2024-05-01T10:00:00+02"]))
values = st.one_of(texts, st.integers(-10, 2**63), st.floats(), st.none(), st.booleans())
zones = st.sampled_from([timezone.utc, ZoneInfo("UTC"), ZoneInfo("Etc/UTC"), ZoneInfo("Europe/Berlin"),
                         ZoneInfo("America/New_York"), ZoneInfo("Asia/Kathmandu"), timezone(timedelta(hours=-3)),
                         timezone(timedelta(0))])


@settings(max_examples=3000, deadline=None)
@given(values, zones)
@example("2024-02-30T10:00:00Z", timezone.utc)  # the calendar's
@example("2024-05-01T24:00:00Z", timezone.utc)  # hour 24
@example("2023-02-29 10:00:00.123+00", ZoneInfo("Europe/Berlin"))
@example("2024-05-01T10:00:00.123456", ZoneInfo("Europe/Berlin"))
@example("0001-01-01 00:30:00", ZoneInfo("Europe/Berlin"))  # no UTC a datetime holds
@example("9999-12-31T23:30:00", ZoneInfo("America/New_York"))
@example("0999-12-31T23:59:59.9999Z", timezone.utc)
@example("2024-05-01T10:00:00+00:00:00", ZoneInfo("Europe/Berlin"))  # an offset with seconds: names no zone, by the text
@example("2024-W18-3T10:00:00.123", timezone.utc)
def test_a_time_reads_as_it_did(value, zone):
    assert ecs.vendor_time(value, zone) == old_vendor_time(value, zone)
    assert ecs.vendor_time_and_zoneless(value, zone) == old_vendor_time_and_zoneless(value, zone)


@settings(max_examples=500, deadline=None)
@given(st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)),
       st.sampled_from(["T", " "]), st.integers(0, 9), st.sampled_from(["", "Z", "+00", "+0000", "+00:00"]), zones)
def test_every_valid_usual_time_reads_as_it_did(dt, sep, places, suffix, zone):
    """Valid times of every year, day and fraction (0 to 9 digits): the same answer as before, and with a UTC
    suffix the time's own day, time and first three fraction digits."""
    digits = f"{dt.microsecond:06d}987"[:places]
    day, time = f"{dt.year:04d}-{dt.month:02d}-{dt.day:02d}", f"{dt.hour:02d}:{dt.minute:02d}:{dt.second:02d}"
    text = f"{day}{sep}{time}{'.' if places else ''}{digits}{suffix}"
    assert ecs.vendor_time_and_zoneless(text, zone) == old_vendor_time_and_zoneless(text, zone)
    assert ecs.vendor_time(text, zone) == old_vendor_time(text, zone)
    if suffix:
        assert ecs.vendor_time(text, zone) == f"{day}T{time}.{(digits + '000')[:3]}Z"
