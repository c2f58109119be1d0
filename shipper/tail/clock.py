"""The tailer's clocks. Every decision of shipper/tail that rests on time (how long a file has been missing,
undecided or idle; whether an mtime is older than a look by more than a clock tick; when a file was buried) reads
it here, so that the torture harness can drive them (tests/torture/harness.py, deterministic mode: a schedule then
replays exactly at any load). The watcher's waits are real waits on the kernel and do not come here."""
from __future__ import annotations

import time
from typing import Protocol


class Source(Protocol):
    def monotonic(self) -> float: ...
    def time(self) -> float: ...
    def time_ns(self) -> int: ...


_source: Source = time  # the real clocks


def monotonic() -> float:
    return _source.monotonic()


def wall() -> float:
    """Seconds since the epoch (time.time)."""
    return _source.time()


def wall_ns() -> int:
    """Nanoseconds since the epoch, as file timestamps are (time.time_ns)."""
    return _source.time_ns()


def use(source: Source) -> Source:
    """Reads time from `source` from now on; returns the one it replaces (the harness puts it back)."""
    global _source
    was, _source = _source, source
    return was
