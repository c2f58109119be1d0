"""The agent under an address-space limit (`ulimit -v`, systemd's LimitAS=, a limits.conf `as` line).

Near such a limit an allocation fails, and most code says so with a MemoryError. orjson (3.13) does not:
its output buffer grows by `_PyBytes_Resize` without a look at the result, so a failed growth is a write
through a null pointer, and the agent died of SIGSEGV serialising a 1 MiB line under a 500 MB limit (no
line said why; restarted, it died the same way). So, under a limit only, before events are serialised,
the room they may need is tried first: an anonymous mapping of that size made and unmade at once (no page
touched, two system calls). No room is an AddressSpaceFull (a MemoryError) naming the limit, which ends
the agent with that one line (shipper.source_runner); nothing it did not deliver is acknowledged, so it is
read again at the next start. Without a limit all of this is one comparison.
"""
from __future__ import annotations

import mmap
import resource

from shipper import allocator

# What serialising a record's events may need at once, beside what is there: orjson's buffer doubles and
# its last growth holds the old and the new buffer (3 × the line), and a line is at most 6 × its record
# (every character escaped as \\u00XX) — the largest record's 18 ×; the lines written before it, each about
# its record's size, and their join (2 × all the records); and a margin for the rest (the dicts, the text).
LARGEST_TIMES = 18
ALL_TIMES = 2
MARGIN = 1 << 20

_limit: int | None = None  # the soft RLIMIT_AS in bytes, set by fit(); None: no limit


class AddressSpaceFull(MemoryError):
    """The address-space limit leaves no room to serialise a batch's events."""


def fit() -> int | None:
    """At the start of the agent and of each parse worker, before their threads: note the soft address-space
    limit and, under one, keep the C allocator to one arena (shipper.allocator.one_arena). The limit in
    bytes, or None."""
    global _limit
    soft, _hard = resource.getrlimit(resource.RLIMIT_AS)
    _limit = None if soft == resource.RLIM_INFINITY else soft
    if _limit is not None:
        allocator.one_arena()
    return _limit


def limit() -> int | None:
    return _limit


def room_for(records: list[bytes], start: int = 0, stop: int | None = None) -> None:
    """Under a limit: raise AddressSpaceFull unless there is room to serialise the events of
    records[start:stop] now."""
    if _limit is None:
        return
    records = records[start:stop]
    if not records:
        return
    need = LARGEST_TIMES * max(map(len, records)) + ALL_TIMES * sum(map(len, records)) + MARGIN
    try:
        # Private and writable, as malloc maps memory: under strict overcommit it is refused as malloc would be.
        mmap.mmap(-1, need, flags=mmap.MAP_PRIVATE).close()
    except OSError:  # ENOMEM: the mapping would pass the limit
        raise AddressSpaceFull(
            f"the address-space limit ({_limit // 1024} KiB: ulimit -v, systemd's LimitAS=) leaves no room to "
            f"serialise records of up to {max(map(len, records))} bytes (~{need >> 20} MiB wanted at once): raise "
            "the limit, or lower the source's max_line_bytes") from None
