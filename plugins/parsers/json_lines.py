"""`parser: json` — generic JSON lines, for audit logs no product parser knows yet.

The object is kept under `generic.*` (its module, so the index template maps it flattened); a `@timestamp` or
`timestamp` field is used when it is ISO 8601; without one, `@timestamp` is the time the record was read,
and the event is tagged `_read_time`.
"""
from __future__ import annotations

import re
from datetime import datetime

import orjson

from shipper.api import (
    INVALID_ENCODING,
    READ_TIME,
    Parser,
    add_tag,
    base_event,
    exact_json,
    failure_event,
    is_utf8,
    iso_utc,
    now_iso,
    original_text,
)

_UNDECODED = re.compile("[\udc80-\udcff]")  # what surrogateescape makes of a byte that is not UTF-8


class JsonLinesParser(Parser):
    module = "generic"
    dataset = "generic.json"

    def parse(self, raw: bytes) -> list[dict]:
        invalid = False
        try:
            doc = exact_json.loads(raw)
        except orjson.JSONDecodeError as e:
            if is_utf8(raw):
                return [failure_event(raw, f"not JSON: {e}", self.module, self.dataset)]  # valid UTF-8: as it is
            # A byte that is not UTF-8 (a Latin-1 name): inside a string it is read as the text `\xNN`,
            # as decode_text keeps it in event.original, so the other fields are still searchable
            invalid = True
            try:
                doc = exact_json.loads(_escape_invalid(raw))
            except orjson.JSONDecodeError as e2:
                ev = failure_event(original_text(raw), f"not JSON: {e2}", self.module, self.dataset)
                add_tag(ev, INVALID_ENCODING)
                return [ev]
        if not isinstance(doc, dict):
            return [failure_event(raw, "expected a JSON object", self.module, self.dataset)]
        ev = base_event(self.module, self.dataset)
        if invalid:
            add_tag(ev, INVALID_ENCODING)
        ts = doc.get("@timestamp") or doc.get("timestamp")
        stamp = None
        if isinstance(ts, str):
            try:
                stamp = iso_utc(datetime.fromisoformat(ts.replace("Z", "+00:00")))
            except ValueError:
                stamp = None
        if stamp is None:  # the read time, tagged: a replay reads it again at another time (never sealed)
            stamp = now_iso()
            add_tag(ev, READ_TIME)
        ev["@timestamp"] = stamp
        ev["generic"] = doc
        return [ev]


def _escape_invalid(raw: bytes) -> str:
    """The record with each byte that is not UTF-8 written `\\\\xNN`: in a JSON string, the text `\\xNN`."""
    return _UNDECODED.sub(lambda m: f"\\\\x{ord(m.group()) - 0xDC00:02x}", raw.decode("utf-8", "surrogateescape"))
