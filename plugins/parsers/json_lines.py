"""`parser: json` — generic JSON lines, for audit logs no product parser knows yet.

The object is kept under `generic.*` (its module, so the index template maps it flattened); a `@timestamp` or
`timestamp` field is used when it is ISO 8601; without one, `@timestamp` is the time the record was read,
and the event is tagged `_read_time`.
"""
from __future__ import annotations

from datetime import datetime

import orjson

from shipper.api import READ_TIME, Parser, add_tag, base_event, exact_json, failure_event, iso_utc, now_iso


class JsonLinesParser(Parser):
    module = "generic"
    dataset = "generic.json"

    def parse(self, raw: bytes) -> list[dict]:
        try:
            doc = exact_json.loads(raw)
        except orjson.JSONDecodeError as e:
            return [failure_event(raw, f"not JSON: {e}", self.module, self.dataset)]
        if not isinstance(doc, dict):
            return [failure_event(raw, "expected a JSON object", self.module, self.dataset)]
        ev = base_event(self.module, self.dataset)
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
