"""shipper.allocator: the C heap's free pages go back to the system (issue 23, bench/README.md soak)."""
from __future__ import annotations

import re

from shipper import allocator


def anonymous_kib() -> int:
    with open("/proc/self/smaps_rollup") as f:
        m = re.search(r"^Anonymous:\s+(\d+) kB", f.read(), re.M)
    assert m
    return int(m.group(1))


def test_free_pages_inside_the_heap_are_given_back():
    # 2,000 blocks of 32 KiB (62 MiB, written, so resident) from glibc's heap (below its mmap
    # threshold); every tenth kept alive, so the 56 MiB freed are holes the heap cannot shrink past
    # on its own: they stay resident until a trim returns them.
    blocks = [bytes(32 * 1024) for _ in range(2000)]
    kept = blocks[::10]
    del blocks
    try:
        before = anonymous_kib()
        assert allocator.give_back() is True
        assert before - anonymous_kib() >= 40 * 1024
    finally:
        del kept
