"""The wait a server asks for in a Retry-After header (RFC 9110 §10.2.3): delta-seconds or an HTTP date.
One parser for every plugin that talks HTTP (the http_poll and azure_blob sources, the Elasticsearch output)."""
from __future__ import annotations

import time
from email.utils import parsedate_to_datetime


def retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait, or None when the header is absent or neither form (a date must name its zone)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None or when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))
