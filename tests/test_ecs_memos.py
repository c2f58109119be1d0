"""The memos of shipper.ecs keep short texts only: a hostile log of long unique values (an "ip" or a
"timestamp" of megabytes, each line another) must not pile up in memory."""
from __future__ import annotations

import gc
import tracemalloc
from datetime import timezone

from shipper.ecs import LocalTimeParser, clean_ip


def _kept_after(call, n: int = 300, size: int = 100_000) -> int:
    """Bytes still allocated after `call` saw n distinct texts of `size` characters."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(n):
            call(f"{i:08d}" + "x" * size)
        gc.collect()
        return tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


def test_clean_ip_keeps_no_long_text():
    assert clean_ip("10.0.0.1:443") == "10.0.0.1" and clean_ip(" [::1]:80 ") == "::1"
    assert _kept_after(clean_ip) < 1_000_000  # 300 texts of 100 kB: 30 MB if they were kept


def test_local_time_parser_keeps_no_long_text():
    parse = LocalTimeParser(timezone.utc)
    assert parse("2026-01-02 03:04:05") == "2026-01-02T03:04:05.000Z"
    assert _kept_after(parse) < 1_000_000
