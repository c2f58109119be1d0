"""Durations an operator (or a test) may change through the unit's environment (docs/operations.md names each):
one reading of them, so that every knob refuses a bad value the same way."""
from __future__ import annotations

import logging
import os

log = logging.getLogger("shipper")


def env_seconds(name: str, default: float) -> float:
    """The positive number of seconds in the environment variable `name`, else `default`; a value that is not
    one is said (naming the variable) and the default used."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        seconds = float(raw)
    except ValueError:
        seconds = 0.0
    if not seconds > 0 or seconds == float("inf"):
        log.warning(f"{name}={raw!r} is not a positive number of seconds: {default:g} is used", extra={"variable": name})
        return default
    return seconds
