"""shipper.ecs.vendor_time: the one conversion of vendors' times every parser uses."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings, strategies as st

from shipper.ecs import vendor_time

aware = st.datetimes(min_value=datetime(1973, 3, 4), max_value=datetime(2200, 1, 1), timezones=st.just(timezone.utc))


def back(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


@given(aware)
def test_iso_text_epoch_seconds_and_milliseconds_agree(dt):
    ms = dt.replace(microsecond=dt.microsecond // 1000 * 1000)
    expected = back(vendor_time(ms.isoformat()))
    assert expected == ms
    assert back(vendor_time(ms.isoformat().replace("+00:00", "Z"))) == ms
    epoch_ms = (ms - datetime(1970, 1, 1, tzinfo=timezone.utc)) // timedelta(milliseconds=1)  # exact, no float
    assert back(vendor_time(epoch_ms // 1000)) == ms.replace(microsecond=0)
    assert back(vendor_time(epoch_ms)) == ms


def test_naive_time_is_in_the_given_zone():
    assert vendor_time("2026-07-01 12:00:00") == "2026-07-01T12:00:00.000Z"
    assert vendor_time("2026-07-01 12:00:00", ZoneInfo("America/New_York")) == "2026-07-01T16:00:00.000Z"
    assert vendor_time(" 2026-07-01T12:00:00.5+02:00 ") == "2026-07-01T10:00:00.500Z"


@given(st.one_of(st.booleans(), st.none(), st.text(alphabet="abc -:", max_size=10), st.lists(st.integers()),
                 st.integers(min_value=10**20), st.floats(allow_nan=True)))
def test_what_is_no_time_gives_none(value):
    assert vendor_time(value) is None or isinstance(value, float)


def _general(value: str, zone=timezone.utc) -> str | None:
    """vendor_time's general path alone (fromisoformat), for comparing with its text fast path."""
    s = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
    try:
        dt = datetime.fromisoformat(s)
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=zone)
    from shipper.ecs import iso_utc  # (its strftime branch for years before 1000, where a zone moves one there)

    return iso_utc(dt)


digits = lambda n: st.text(alphabet="0123456789", min_size=n, max_size=n)  # noqa: E731
two = lambda lo, hi: st.integers(lo, hi).map(lambda v: f"{v:02d}")  # noqa: E731  (hi: just past the valid range)


@settings(max_examples=500)
@given(st.one_of(st.integers(1000, 9999).map(str), digits(4)), two(1, 13), two(1, 32), two(0, 24), two(0, 60),
       two(0, 60), st.one_of(st.just(""), st.integers(1, 9).flatmap(lambda n: digits(n)).map(lambda d: "." + d)),
       st.sampled_from(["Z", "+00:00", "+0000", "+00", "", "+01:00"]), st.sampled_from(["T", " "]),
       st.sampled_from(["UTC", "America/New_York"]))
def test_utc_text_fast_path_agrees_with_fromisoformat(y, mo, d, h, mi, sec, frac, suffix, sep, zone_name):
    """Times in the shape of `YYYY-MM-DD[T ]HH:MM:SS[.f…][Z|+00:00|+00|none]`, valid or just not
    (month 13, Feb 30, hour 24, second 60, year 0000, years before 1000), in a UTC source or not: the same
    answer as the general path, None included."""
    zone = ZoneInfo(zone_name)
    text = f"{y}-{mo}-{d}{sep}{h}:{mi}:{sec}{frac}{suffix}"
    assert vendor_time(text, zone) == _general(text, zone)


def test_utc_z_examples_from_azure():
    assert vendor_time("2019-07-15T18:01:15.7532989Z") == "2019-07-15T18:01:15.753Z"
    assert vendor_time("2016-07-01T00:00:37.2040000Z") == "2016-07-01T00:00:37.204Z"
    assert vendor_time("2025-05-15T15:58:35Z") == "2025-05-15T15:58:35.000Z"
    assert vendor_time("2025-05-15T15:58:35.5Z") == "2025-05-15T15:58:35.500Z"
    # the fractions around the 23-character shortcut, after a T or a space, with a zone or without (UTC)
    for frac, ms in (("75", "750"), ("753", "753"), ("7532", "753"), ("", "000")):
        for sep in ("T", " "):
            for suffix in ("Z", "+00:00", ""):
                text = f"2025-05-15{sep}15:58:35{'.' if frac else ''}{frac}{suffix}"
                assert vendor_time(text) == f"2025-05-15T15:58:35.{ms}Z", text
    assert vendor_time("2025-02-29T00:00:00Z") is None  # not a leap year
    assert vendor_time("2024-02-29T23:59:59.999999999Z") == "2024-02-29T23:59:59.999Z"


@given(st.integers(0, 18), st.characters(whitelist_categories=("Nd",)).filter(lambda c: not c.isascii()),
       st.sampled_from(["2024-05-01T10:20:30Z", "2024-05-01T10:20:30.123456Z", "2024-05-01 10:20:30",
                        "2024-05-01T10:20:30+02:00"]))
def test_digits_of_other_scripts_never_reach_a_timestamp(pos, digit, text):
    """Python's \\d and int() read '٣' as 3: a @timestamp must still be ASCII, or Elasticsearch rejects
    the document. Such a time is no time (the record is flagged by its parser)."""
    from shipper.ecs import LocalTimeParser

    digits = [i for i, c in enumerate(text) if c.isdigit()]
    i = digits[pos % len(digits)]
    odd = text[:i] + digit + text[i + 1:]
    out = vendor_time(odd)
    assert out is None or out.isascii(), (odd, out)
    local = LocalTimeParser(timezone.utc)(odd)
    assert local is None or local.isascii(), (odd, local)


def test_years_before_1000_are_written_with_four_digits():
    # strftime's %Y writes 999 for the year 999 (glibc): not ISO 8601, refused by the ECS date check
    from shipper.ecs import iso_utc
    from shipper_plugins.parsers.datameer import DatameerParser

    assert iso_utc(datetime(999, 12, 31, 23, 59, 59)) == "0999-12-31T23:59:59.000Z"
    assert iso_utc(datetime(1, 1, 1)) == "0001-01-01T00:00:00.000Z"
    [ev] = DatameerParser({"timezone": "America/New_York"}).parse(b'{"date-time": "0999-01-01 00:00:00"}')
    assert ev["@timestamp"].startswith("0999-01-01T04:56:02")


@settings(max_examples=300)
@given(st.datetimes(min_value=datetime(1850, 1, 1), max_value=datetime(2100, 1, 1)),
       st.sampled_from(["UTC", "Europe/Berlin", "Asia/Kolkata", "Asia/Kathmandu", "America/Sao_Paulo", "Europe/Amsterdam",
                        # at UTC+0 in 2000, not always: Monrovia -0:44:30 until 1972, Reykjavik -1:00 until 1968
                        "Africa/Monrovia", "Atlantic/Reykjavik", "Africa/Abidjan"]),
       st.sampled_from(" T"))
def test_local_time_parser_agrees_with_zoneinfo(local, zone_name, sep):
    """LocalTimeParser reads a minute once and each time as that minute's UTC text and its own seconds: the same
    as zoneinfo's conversion, also for an offset with seconds (Amsterdam's +0:19:32 until 1937, Sao Paulo's
    -3:06:28 until 1914, Kolkata's +5:21:10 until 1906), where the seconds change too. Times in an hour whose clock repeats or skips are left
    out (read with the hour's first offset, and tagged: local_time_in_doubt)."""
    from shipper.ecs import LocalTimeParser, local_time_in_doubt

    zone = ZoneInfo(zone_name)
    text = local.strftime(f"%Y-%m-%d{sep}%H:%M:%S")
    if local_time_in_doubt(text, zone):
        return
    expected = local.replace(microsecond=0, tzinfo=zone).astimezone(timezone.utc)
    parse = LocalTimeParser(zone)
    assert parse(text) == expected.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    assert parse(text) == expected.strftime("%Y-%m-%dT%H:%M:%S.000Z")  # the minute remembered


@pytest.mark.parametrize(("zone_name", "text"), [("Europe/Berlin", "0001-01-01 00:30:00"),
                                                   ("America/New_York", "9999-12-31 23:30:00"),
                                                   ("Europe/Amsterdam", "0001-01-01 00:19:31")])
def test_a_local_time_whose_utc_is_outside_years_1_to_9999_is_no_time(zone_name, text):
    """Such a time has no UTC a datetime holds: no time (the parser's unreadable timestamp, the record shipped and
    flagged), not an OverflowError out of the parser."""
    from shipper.ecs import LocalTimeParser

    assert LocalTimeParser(ZoneInfo(zone_name))(text) is None
