"""shipper.ecs.vendor_time: the one conversion of vendors' times every parser uses."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from hypothesis import given, strategies as st

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
