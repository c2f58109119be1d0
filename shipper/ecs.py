"""Helpers every parser uses to build valid ECS events. No product knowledge here."""
from __future__ import annotations

import csv
import ipaddress
import re
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from pathlib import Path
from time import gmtime as _gmtime, strftime as _strftime
from typing import Any, Iterable
from zoneinfo import ZoneInfo

from shipper.memo import MISSING, BoundedMemo

ECS_VERSION = "9.4.0"
PARSE_FAILURE = "_parse_failure"
UNMAPPED_ACTION = "_unmapped_action"
# A record with no time of its own: its @timestamp is the time the agent read it, which a replay
# changes, so an integrity seal leaves it out (shipper.integrity, docs/evidence.md)
READ_TIME = "_read_time"
# A record holding bytes that are not valid in its encoding (a Latin-1 name in a UTF-8 log): each such
# byte is kept as the text `\\xNN` (decode_text), never U+FFFD, so the record's bytes can be told again
INVALID_ENCODING = "_invalid_encoding"
# A time written without a zone, read in a zone whose clock went back over it (the hour daylight saving time
# repeats: which pass it was cannot be told from the text; read as the first) or forward (a time that never
# was on that clock): its @timestamp may be an hour off (local_time_in_doubt)
AMBIGUOUS_LOCAL_TIME = "_ambiguous_local_time"


def now_iso() -> str:
    """The time now in UTC, as `iso_utc` writes it: a record's `@timestamp` when it has no time of its
    own (flag that with flag_problems)."""
    return iso_utc(datetime.now(timezone.utc))


def iso_utc(dt: datetime) -> str:
    """ISO 8601 in UTC with millisecond precision and a Z, as Elasticsearch's date type likes."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    dt = dt.astimezone(timezone.utc)
    if dt.year >= 1000:  # isoformat is ~2x faster than strftime; same text for 4-digit years
        return dt.isoformat(timespec="milliseconds")[:23] + "Z"
    # strftime's %Y gives '999', not '0999' (glibc): the year is padded here
    return f"{dt.year:04d}" + dt.strftime("-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


# no other scripts' digits; minutes and seconds under 60 (a time past them is no time: None, as datetime says)
_LOCAL_TS = re.compile(r"(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):([0-5]\d):([0-5]\d)", re.ASCII)
_LOCAL_MINUTE = re.compile(r"(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):([0-5]\d)", re.ASCII)  # its first 16 characters
_SECONDS = frozenset(f":{n:02d}" for n in range(60))  # its last three: a set lookup, where the regex cost ~3 k instructions
_MINUTE = timedelta(minutes=1)


def zone_always_utc(zone: "tzinfo") -> bool:
    """True when `zone` is at UTC+0 in every month of 1800-2100 (tzdata's history starts ~1847): its times
    need no conversion, and no hour of it is in doubt (local_time_in_doubt is always False). (Asked in 2000
    alone, Africa/Monrovia, at -0:44:30 until 1972, was taken for UTC.)"""
    return all(zone.utcoffset(datetime(year, month, 1)) == timedelta(0)
               for year in range(1800, 2101) for month in range(1, 13))


class LocalTimeParser:
    """'YYYY-MM-DD HH:MM:SS' written without a zone, in a configured zone, to ISO 8601 UTC.

    The hot path of every zone-less log: strptime and zoneinfo cost ~10 µs a line, so the UTC
    offset is computed once per (date, hour) and the UTC text of a minute once per minute: a time
    is then its minute's text and its own seconds (the lines of a busy log bring a new second every
    few lines, each a memo miss of the parser's: ~16 k instructions a new second when each was read whole).
    """

    def __init__(self, zone: "tzinfo"):
        self.zone = zone
        self.is_utc = zone_always_utc(zone)
        self._hours: BoundedMemo[str, timedelta | None] = BoundedMemo(10_000, 13)  # 'YYYY-MM-DD HH' → UTC offset
        # 'YYYY-MM-DD HH:MM' → its UTC 'YYYY-MM-DDTHH:MM'; None: no time; "": an offset with seconds (see _minute)
        self._minutes: BoundedMemo[str, str | None] = BoundedMemo(4096, 16)

    def __call__(self, s: str) -> str | None:
        if len(s) != 19 or s[16:] not in _SECONDS:
            return None
        minute = self._minutes.get(s[:16], MISSING)
        if minute is MISSING:
            minute = self._minutes.remember(s[:16], self._minute(s))
        if minute:
            return f"{minute}{s[16:]}.000Z"
        return None if minute is None else self._convert(s)

    def _minute(self, s: str) -> str | None:
        """The UTC text of the minute of `s` ('YYYY-MM-DDTHH:MM'), None if `s` is no time, "" if the zone's
        offset then had seconds (local mean time, before ~1900): its seconds change too, each time is read whole."""
        if not _LOCAL_MINUTE.fullmatch(s, 0, 16):
            return None
        offset = self._hour_offset(s)
        if offset is None:
            return None
        if not offset:  # (the regex checked the minutes)
            return f"{s[:10]}T{s[11:16]}"
        if offset % _MINUTE:
            return ""
        try:
            dt = datetime(int(s[0:4]), int(s[5:7]), int(s[8:10]), int(s[11:13]), int(s[14:16]))
        except ValueError:
            return None
        try:
            dt -= offset
        except OverflowError:  # before year 1 or after 9999 in UTC: no time datetime can hold
            return None
        return f"{dt.year:04d}" + dt.strftime("-%m-%dT%H:%M")  # %Y does not pad years before 1000

    def _convert(self, s: str) -> str | None:
        """`s` read whole (what __call__ does by the minute, for an offset with seconds)."""
        if len(s) != 19 or not _LOCAL_TS.fullmatch(s):
            return None
        offset = self._hour_offset(s)
        if offset is None:
            return None
        if not offset:
            return f"{s[:10]}T{s[11:19]}.000Z"
        try:
            dt = datetime(int(s[0:4]), int(s[5:7]), int(s[8:10]), int(s[11:13]), int(s[14:16]), int(s[17:19]))
        except ValueError:
            return None
        try:
            dt -= offset
        except OverflowError:  # (as in _minute)
            return None
        return f"{dt.year:04d}" + dt.strftime("-%m-%dT%H:%M:%S.000Z")

    def _hour_offset(self, s: str) -> timedelta | None:
        hour_key = s[:13]
        offset = self._hours.get(hour_key, MISSING)
        if offset is MISSING:
            offset = self._hours.remember(hour_key, self._offset(s))
        return offset

    def _offset(self, s: str) -> timedelta | None:
        try:
            dt = datetime(int(s[0:4]), int(s[5:7]), int(s[8:10]), int(s[11:13]))
        except ValueError:
            return None
        return timedelta(0) if self.is_utc else dt.replace(tzinfo=self.zone).utcoffset()


# The usual times: 'YYYY-MM-DD[T ]HH:MM:SS[.f…][Z|+00|+0000|+00:00]', as Azure, PostgreSQL (timestamptz as
# +00) and most JSON APIs write them, each record its own (no memo hits). datetime.fromisoformat (C) checks
# the digits, the calendar, the hours, minutes and seconds; the UTC text is then the time's own characters
# (~3,300 instructions a time less than the regex and day memo before it: bench/README.md, session 25).
_UTC_SUFFIXES = ("Z", "+00", "+0000", "+00:00")  # an offset whose text names no zone of its own (names_no_zone)
_MILLIS_Z = tuple(f".{ms:03d}Z" for ms in range(1000))  # isoformat(timespec="milliseconds") truncates; so does this
_fromisoformat = datetime.fromisoformat


def _usual_time(s: str, zone: tzinfo) -> tuple[str | None, bool] | None:
    """(vendor_time(s, zone), names_no_zone(s)) when `s` is a usual time (above) written in UTC or without a
    zone; None for any other text (the general path's), also for no time at all."""
    marks = s[4:17:3]  # 'YYYY-MM-DD', T or a space, 'HH:MM:SS': '--T::' or '-- ::'
    after_t = marks == "--T::"
    if not after_t and marks != "-- ::":
        return None
    try:
        dt = _fromisoformat(s)
    except ValueError:
        return None
    tz = dt.tzinfo
    if tz is None:
        if not (zone is _ZONEINFO_UTC or zone is timezone.utc or _is_utc(zone)):  # (no call for UTC)
            return _in_zone(dt, zone), True
        zoneless = True
    elif tz is timezone.utc and (s[-1] == "Z" or s.endswith(_UTC_SUFFIXES)):
        zoneless = False
    else:  # another offset ('-00:00' or one with seconds too: names_no_zone's to judge)
        return None
    # the marks and fromisoformat vouch for s[:19] being the day and the time (a week date has no '-' at 7)
    day_time = s[:19] if after_t else f"{s[:10]}T{s[11:19]}"
    return day_time + _MILLIS_Z[dt.microsecond // 1000], zoneless


def _in_zone(dt: datetime, zone: tzinfo) -> str | None:
    """The UTC text of `dt`, a time written without a zone, read in `zone`; None if it has no UTC a datetime holds."""
    try:
        return iso_utc(dt.replace(tzinfo=zone))
    except (ValueError, OverflowError, OSError):
        return None


_ZONEINFO_UTC = ZoneInfo("UTC")  # the instance ZoneInfo("UTC") gives every parser (ZoneInfo keeps one a key)


def _is_utc(zone: tzinfo) -> bool:
    return zone is _ZONEINFO_UTC or zone is timezone.utc or getattr(zone, "key", None) in ("UTC", "Etc/UTC")


# Epoch numbers below this (milliseconds; seconds below 1e11) are read by integer arithmetic: below it a
# double holds value / 1000 within 0.25 µs, so datetime.fromtimestamp's microsecond rounding gives the
# same millisecond (year 2096; beyond, the general path, which is what it always said).
_EXACT_EPOCH_MS = 4_000_000_000_000
_seconds: BoundedMemo[int, str] = BoundedMemo(4096, 0)  # epoch second → 'YYYY-MM-DDTHH:MM:SS': a busy second's events share it


def _epoch_text(value: int) -> str:
    """What iso_utc(datetime.fromtimestamp(value [/ 1000], tz=utc)) says, for 0 <= value < _EXACT_EPOCH_MS."""
    sec, ms = divmod(value, 1000) if value > 1e11 else (value, 0)
    day_time = _seconds.get(sec)
    if day_time is None:
        day_time = _seconds.remember(sec, _strftime("%Y-%m-%dT%H:%M:%S", _gmtime(sec)))
    return f"{day_time}.{ms:03d}Z"


def vendor_time(value: Any, zone: tzinfo = timezone.utc) -> str | None:
    """A vendor's time as ISO 8601 UTC, or None if it is none: ISO 8601 text (a time without a zone
    is in `zone`) or an epoch number (milliseconds when above 1e11, else seconds: so epoch
    milliseconds before 1973-03-03 and seconds after the year 5138 are misread — no audit trail has them)."""
    try:
        if value.__class__ is str:
            usual = _usual_time(value, zone)
            if usual is not None:
                return usual[0]
        elif value.__class__ is int and 0 <= value < _EXACT_EPOCH_MS:
            return _epoch_text(value)
    except (ValueError, OverflowError, OSError):
        return None
    return _general_time(value, zone)


def _general_time(value: Any, zone: tzinfo) -> str | None:
    """vendor_time of what its text and epoch fast paths do not read."""
    try:
        if isinstance(value, bool):
            return None
        if isinstance(value, (int, float)):
            return iso_utc(datetime.fromtimestamp(value / 1000 if value > 1e11 else value, tz=timezone.utc))
        if not isinstance(value, str):
            return None
        s = value.strip()
        if s.endswith(("Z", "z")):
            s = s[:-1] + "+00:00"
        dt = datetime.fromisoformat(s)  # 3.11: also ' ' as separator and PostgreSQL's '+00'
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=zone)
        return iso_utc(dt)
    except (ValueError, OverflowError, OSError):  # not a time, or out of any calendar's range
        return None


_ZONE_SUFFIX = re.compile(r"(?:[zZ]|[+-]\d\d(?::?\d\d)?|\s[A-Za-z]{1,5})$", re.ASCII)  # Z, +02:00, -0500, ' UTC'


def names_no_zone(text: Any) -> bool:
    """Whether a time written as text names no zone (so a parser read it in the source's zone, which
    ECS wants in `event.timezone`). Epoch numbers are UTC: False."""
    if not isinstance(text, str):
        return False
    s = text.strip()
    if len(s) > 10:  # the usual times: what the suffix search would say, without it
        last = s[-1]
        if last == "Z" or last == "z":
            return False
        if last.isdigit() and "+" not in s[-6:] and "-" not in s[-6:]:  # no [+-]HH[[:]MM] at the end
            return not s.isdigit()
    return len(s) >= 8 and not s.isdigit() and (len(s) <= 10 or _ZONE_SUFFIX.search(s[-9:]) is None)


def vendor_time_and_zoneless(value: Any, zone: tzinfo = timezone.utc) -> tuple[str | None, bool]:
    """(vendor_time(value, zone), names_no_zone(value)), the usual times' text matched once for both: a parser
    that names the zone a time was read in (event.timezone) asks both of every record."""
    if value.__class__ is str:
        usual = _usual_time(value, zone)
        if usual is not None:
            return usual
    return vendor_time(value, zone), names_no_zone(value)


_doubtful_hours: BoundedMemo[tuple[str, str], bool] = BoundedMemo(4096, 80)  # (zone, 'YYYY-MM-DD HH') → in doubt


def local_time_in_doubt(text: Any, zone: tzinfo) -> bool:
    """Whether a time written without a zone (`text`: 'YYYY-MM-DD[ T]HH…') lies in an hour `zone`'s clock
    repeats or skips (a daylight saving change): then the UTC time read from it may be an hour off, and the
    event is tagged AMBIGUOUS_LOCAL_TIME. False for text that is no such time. One check per zone and hour."""
    if text.__class__ is not str or len(text) < 13 or _is_utc(zone):
        return False
    key = (zone_name(zone), text[:10] + " " + text[11:13])
    doubt = _doubtful_hours.get(key)
    if doubt is None:
        try:
            hour = datetime(int(text[0:4]), int(text[5:7]), int(text[8:10]), int(text[11:13]), tzinfo=zone)
        except ValueError:
            return False
        # fold=0 and fold=1 name the same offset except where the wall clock repeats or skips (PEP 495); a
        # change may fall on the half or quarter hour (Lord Howe, Chatham)
        doubt = any((t := hour.replace(minute=m)).utcoffset() != t.replace(fold=1).utcoffset()
                    for m in (0, 15, 30, 45, 59))
        _doubtful_hours.remember(key, doubt)
    return doubt


def zone_name(zone: tzinfo) -> str:
    """The IANA name of a zone ('Europe/Berlin'), as `event.timezone` wants it."""
    return getattr(zone, "key", None) or str(zone)


def decode_text(raw: bytes) -> str:
    """A record's bytes as text a parser reads fields from, a byte that is not UTF-8 as U+FFFD. The text kept
    for an auditor (`event.original`, in failure_event and flag_problems' callers) is original_text."""
    return raw.decode("utf-8", errors="replace")


def original_text(raw: bytes) -> str:
    """A record's bytes as `event.original`: a byte that is not UTF-8 becomes the text `\\xNN` (Python's
    backslashreplace), never U+FFFD, which would lose which byte it was (docs/ecs-conventions.md)."""
    return raw.decode("utf-8", errors="backslashreplace")


def is_utf8(raw: bytes) -> bool:
    """Whether the bytes are valid UTF-8 (what decode_text and original_text read without a substitute)."""
    if raw.isascii():  # nearly every line: a C scan, no decode
        return True
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def get_path(event: dict[str, Any], dotted: str, default: Any = None) -> Any:
    """The value at a dotted path (`get_path(ev, "user.name")`), or `default` where a part is missing
    or not a dict."""
    d: Any = event
    for p in dotted.split("."):
        if not isinstance(d, dict) or p not in d:
            return default
        d = d[p]
    return d


def add_tag(event: dict[str, Any], tag: str) -> None:
    """Append `tag` to the event's `tags` (made if missing), once."""
    tags = event.setdefault("tags", [])
    if tag not in tags:
        tags.append(tag)


def add_related(event: dict[str, Any], users: Iterable[Any] = (), ips: Iterable[Any] = ()) -> None:
    """Values (as text, each once, in order) added to related.user / related.ip; no empty `related` left."""
    rel = event.get("related")
    for kind, values in (("user", users), ("ip", ips)):
        bucket = None
        for v in values:
            if v is None or v == "":
                continue
            if v.__class__ is not str:
                v = str(v)
            if bucket is None:  # made on the first value only (the usual event has one or two)
                if rel is None:
                    rel = event["related"] = {}
                bucket = rel.setdefault(kind, [])
            if v not in bucket:
                bucket.append(v)
    if rel is not None and not rel:
        del event["related"]


_PORT_SUFFIX = re.compile(r"^(?P<ip>\d{1,3}(?:\.\d{1,3}){3}):\d+$", re.ASCII)


def clean_ip(value: Any) -> str | None:
    """A valid IP address string, or None. Accepts 'a.b.c.d:port', '[v6]:port' and v4-mapped v6; an IPv6
    zone id ('%eth0') is dropped (callers keep the text as written in their vendor namespace)."""
    if value is None:
        return None
    if value.__class__ is str:
        # The usual case, a plain IPv4 address (with a port or not), read by the C library: ~15x cheaper
        # than ipaddress, and not memoised (a busy platform's addresses would only churn the memo; nor
        # looked up in it first: ~750 instructions an address). glibc's and musl's inet_pton take an IPv4
        # address in its one canonical form only (four decimal octets, no leading zeros, no short forms,
        # no spaces): the form ipaddress accepts, so it says the same (tests/parsers/test_ecs_memos.py
        # holds it to that); anything else takes the general path. (Writing it back with inet_ntop to
        # compare, as before, cost as much as the rest of this path. Inline, not a helper: a call costs
        # about what the C call does. No partition of a text without a colon: its tuple and strings were
        # ~15 % of this path.)
        if ":" not in value:
            try:
                _inet_pton(_AF_INET, value)
                return value
            except (OSError, ValueError):  # not an IPv4 address; NUL or a lone surrogate in the text
                pass
        ip = _IPS.get(value, MISSING)  # what took the general path before (ports, IPv6, not addresses)
        if ip is MISSING:
            if ":" in value:
                address, _, port = value.partition(":")
                if port.isdigit() and port.isascii():
                    try:
                        _inet_pton(_AF_INET, address)
                        return address
                    except (OSError, ValueError):
                        pass
            return _IPS.remember(value, _clean_ip(value))
        return ip
    return _clean_ip(str(value))


# Only short texts kept: the longest address with port and zone fits in 128 characters.
_IPS: BoundedMemo[str, str | None] = BoundedMemo(8192, 128)
_inet_pton, _AF_INET = socket.inet_pton, socket.AF_INET


def _clean_ip(value: str) -> str | None:
    s = value.strip()
    if not s:
        return None
    m = _PORT_SUFFIX.match(s)
    if m:
        s = m.group("ip")
    elif s.startswith("[") and "]" in s:
        s = s[1 : s.index("]")]
    try:
        ip = ipaddress.ip_address(s)
    except ValueError:
        return None
    if ip.version == 6 and ip.scope_id is not None:  # 'fe80::1%eth0': Elasticsearch's ip type refuses the zone id
        return str(ipaddress.IPv6Address(s.partition("%")[0]))
    return str(ip)


_CAMEL_1 = re.compile(r"(.)([A-Z][a-z]+)")
_CAMEL_2 = re.compile(r"([a-z0-9])([A-Z])")
_NON_WORD = re.compile(r"[^0-9a-zA-Z]+")


def snake_case(key: str) -> str:
    """'actionType', 'action-type', 'Action Type' → 'action_type'."""
    s = _CAMEL_2.sub(r"\1_\2", _CAMEL_1.sub(r"\1_\2", key))
    return _NON_WORD.sub("_", s).strip("_").lower()


def squash_key(key: str) -> str:
    """The spelling-blind form of a key: 'actionType', 'action-type', 'action type' → 'actiontype'."""
    return _NON_WORD.sub("", key).lower()


def drop_nulls(value: Any) -> Any:
    """Remove None values (vendors that write 'unused fields as null')."""
    if isinstance(value, dict):
        return {k: drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [drop_nulls(v) for v in value if v is not None]
    return value


@dataclass(frozen=True, slots=True)
class Classification:
    """An action's ECS categorisation from a catalogue (load_catalog): `event.category` and `event.type`
    values, and the usual `event.outcome` (None: the record says)."""

    category: tuple[str, ...]
    type: tuple[str, ...]
    outcome: str | None = None

    def apply(self, event: dict[str, Any]) -> None:
        """Set `event.category` and `event.type`, and `event.outcome` if the event has none yet."""
        ev = event.setdefault("event", {})
        ev["category"] = list(self.category)
        ev["type"] = list(self.type)
        if self.outcome and "outcome" not in ev:
            ev["outcome"] = self.outcome


@lru_cache(maxsize=1)
def ecs_category_types() -> dict[str, frozenset[str]]:
    """{event.category value: the event.type values ECS expects with it}, of the ECS version events follow.
    A module (shipper.ecs_categories, generated by scripts/build_ecs_field_types.py), not YAML: every parser's
    import reads it, and a parse worker's forkserver, which reads no config, imported yaml for it alone."""
    from shipper.ecs_categories import EVENT_CATEGORY_TYPES

    return {c: frozenset(ts) for c, ts in EVENT_CATEGORY_TYPES.items()}


class CatalogError(ValueError):
    """A catalogue that cannot be used as it is: `str()` names the file, the line and what is wrong
    (a category or type ECS does not allow there, with the ones it does)."""


def load_catalog(path: str | Path, key_columns: tuple[str, ...]) -> dict[tuple[str, ...], Classification]:
    """Read an action catalogue (CSV with key columns and category, type, outcome; lists split by '|';
    lines starting with '#' skipped).

    Keys are compared case-insensitively: the returned dict is keyed by lower-cased tuples. Every
    row's categorisation is checked against ECS: each `category` must be an ECS event.category value,
    and each `type` one ECS expects with every category of the row (`iam|configuration` with `access`
    is refused: iam does not take access); a row sets both or neither. A row that breaks this raises
    CatalogError naming the file, the line and the types ECS allows (at import: the plugin is then
    refused by name, not shipped with events an ECS consumer misfiles).
    """
    allowed = ecs_category_types()
    with open(path, newline="", encoding="utf-8") as f:
        numbered = [(n, line) for n, line in enumerate(f, 1) if not line.startswith("#")]
    reader = csv.DictReader(line for _, line in numbered)
    out: dict[tuple[str, ...], Classification] = {}
    for row in reader:
        where = f"{path}:{numbered[reader.line_num - 1][0]}"
        try:
            key = tuple(row[c].strip().lower() for c in key_columns)
            category = tuple(x for x in row["category"].split("|") if x)
            types = tuple(x for x in row["type"].split("|") if x)
        except (KeyError, AttributeError):  # a column missing from the header, or from this row
            raise CatalogError(f"{where}: needs the columns {', '.join((*key_columns, 'category', 'type'))}") from None
        problem = _categorisation_problem(category, types, allowed)
        if problem:
            raise CatalogError(f"{where}: {problem}")
        if key in out:
            continue  # the same action documented twice (e.g. for files and folders)
        out[key] = Classification(category=category, type=types, outcome=(row.get("outcome") or "").strip() or None)
    return out


def _categorisation_problem(category: tuple[str, ...], types: tuple[str, ...],
                            allowed: dict[str, frozenset[str]]) -> str | None:
    if bool(category) != bool(types):
        return "category and type go together: set both or neither"
    for c in category:
        expected = allowed.get(c)
        if expected is None:
            return f"category {c!r} is not an ECS {ECS_VERSION} event.category (one of: {', '.join(sorted(allowed))})"
        for t in types:
            if t not in expected:
                return (f"type {t!r} is not expected with category {c!r} (ECS {ECS_VERSION} expects: "
                        f"{', '.join(sorted(expected))})")
    return None


def base_event(module: str, dataset: str, action: str | None = None) -> dict[str, Any]:
    """A new event: `ecs.version`, `event.kind: event`, `event.module`, `event.dataset` and, when
    given, `event.action`. Set `@timestamp` and the rest on it."""
    event: dict[str, Any] = {"kind": "event", "module": module, "dataset": dataset}
    if action is not None:
        event["action"] = action
    return {"ecs": {"version": ECS_VERSION}, "event": event}


PIPELINE_ERROR = "pipeline_error"  # ECS event.kind of a record the pipeline could not (wholly) understand


def failure_event(raw: bytes | str, message: str, module: str, dataset: str) -> dict[str, Any]:
    """A record that could not be parsed: shipped, flagged (ECS `event.kind: pipeline_error`, as every
    Elastic pipeline's on_failure sets it, and the tag), with the raw text kept."""
    text = raw if isinstance(raw, str) else original_text(raw)
    ev = base_event(module, dataset)
    ev["event"]["kind"] = PIPELINE_ERROR
    ev["@timestamp"] = now_iso()
    ev["event"]["original"] = text
    ev["error"] = {"message": message}
    ev["tags"] = [PARSE_FAILURE]
    return ev


def unmapped(event: dict) -> None:
    add_tag(event, UNMAPPED_ACTION)


def classify(event: dict[str, Any], cls: Classification | None, has_action: bool) -> None:
    """Categorise from the catalogue entry; an action the catalogue lacks is tagged, not dropped."""
    if cls is not None:
        cls.apply(event)
    elif has_action:
        unmapped(event)


def flag_problems(event: dict[str, Any], problems: list[str], original: str | None = None, product_time: bool = False) -> None:
    """A record that lacks something is shipped as far as it was understood, flagged: the tag,
    what was wrong (after any error the record itself carried) and, when given, the raw text.
    `product_time`: its @timestamp is the product's own time, not the time it was read; the event
    then carries that read time as ECS `event.created`, and an integrity seal covers @timestamp
    (docs/evidence.md: a parse failure without event.created has the read time there, unsealed)."""
    if not problems:
        return
    add_tag(event, PARSE_FAILURE)
    event["event"]["kind"] = PIPELINE_ERROR  # data may be missing or incorrect (ECS): not an audit fact as it stands
    if product_time:
        event["event"]["created"] = now_iso()
    msg = "; ".join(problems)
    vendor = (event.get("error") or {}).get("message")
    event["error"] = {"message": f"{msg}; vendor error: {vendor}" if vendor else msg}
    if original is not None:
        event["event"]["original"] = original


def audit_message(ev: dict[str, Any], what: str, source_path: str | None = None) -> str:
    """The `message` of a product that writes no text of its own (docs/ecs-conventions.md, Context): one
    line an auditor reads, built from the promoted fields — who, what, to whom or what, how it ended:
    `actor: what [user T [group G]] [group G] [SOURCE -> ]PATH [(outcome)]`."""
    user = ev.get("user") or {}
    out = f"{user.get('name') or user.get('id') or 'unknown user'}: {what}"
    target = user.get("target")
    if target:
        out += f" user {target.get('name') or target.get('id') or target.get('email')}"
        group = target.get("group")
        if group:
            out += f" group {group.get('name') or group.get('id')}"
    group = ev.get("group")
    if group:
        out += f" group {group.get('name') or group.get('id')}"
    file = ev.get("file")
    if file:
        path = file.get("path") or file.get("name")
        out += f" {source_path} -> {path}" if source_path else f" {path}"
    outcome = ev["event"].get("outcome")
    if outcome:
        out += f" ({outcome})"
    return out
