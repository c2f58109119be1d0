"""`shipper` with a memory probe, for bench/soak.py --probe: each SIGUSR1 appends one JSON line to
$SHIPPER_TRACE_DIR/probe.jsonl saying where the agent's memory is: the kernel's view
(/proc/self/smaps_rollup), pymalloc's (arenas held, bytes in live blocks: sys._debugmallocstats),
glibc's (mallinfo2: heap from the system, in use, free, mmapped) and the live objects the cyclic GC
tracks, by type. With SHIPPER_PROBE_TRIM=1 the probe then calls malloc_trim(0) and records what it
gave back. Bench only: the agent itself has no such hook."""
from __future__ import annotations

import collections
import ctypes
import gc
import json
import os
import re
import signal
import sys
import tempfile
import time

_libc = ctypes.CDLL("libc.so.6")


class _Mallinfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]


_libc.mallinfo2.restype = _Mallinfo2


def _rollup() -> dict[str, int]:
    with open("/proc/self/smaps_rollup") as f:
        return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+):\s+(\d+) kB", f.read(), re.M)}


def _pymalloc() -> dict[str, int]:
    """sys._debugmallocstats() writes to the C stderr: read it through a temporary file on fd 2."""
    with tempfile.TemporaryFile() as tmp:
        saved = os.dup(2)
        try:
            sys.stderr.flush()
            os.dup2(tmp.fileno(), 2)
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        tmp.seek(0)
        text = tmp.read().decode(errors="replace")
    out = {}
    for key, pattern in (("arenas", r"# arenas allocated current\s*=\s*([\d,]+)"),
                         ("arena_bytes", r"(\d[\d,]*) arenas \* \d+ bytes/arena\s*=\s*([\d,]+)"),
                         ("in_blocks", r"# bytes in allocated blocks\s*=\s*([\d,]+)"),
                         ("free_blocks", r"# bytes in available blocks\s*=\s*([\d,]+)"),
                         ("empty_pools", r"(\d+) unused pools \* \d+ bytes\s*=\s*([\d,]+)")):
        m = re.search(pattern, text)
        if m:
            out[key] = int(m.groups()[-1].replace(",", ""))
    return out


def _glibc() -> dict[str, int]:
    mi = _libc.mallinfo2()
    return {"heap": mi.arena, "in_use": mi.uordblks, "free": mi.fordblks, "mmapped": mi.hblkhd}


def _probe(_signum, _frame) -> None:
    types = collections.Counter(type(o).__name__ for o in gc.get_objects())
    rec = {"t": time.time(), "kib": _rollup(), "pymalloc": _pymalloc(), "glibc": _glibc(),
           "gc_objects": sum(types.values()), "top_types": types.most_common(12)}
    if os.environ.get("SHIPPER_PROBE_TRIM") == "1":
        before = rec["kib"].get("Rss", 0)
        _libc.malloc_trim(0)
        rec["trimmed_kib"] = before - _rollup().get("Rss", 0)
    with open(os.path.join(os.environ["SHIPPER_TRACE_DIR"], "probe.jsonl"), "a") as f:
        f.write(json.dumps(rec) + "\n")


signal.signal(signal.SIGUSR1, _probe)

from shipper.cli import main  # noqa: E402  (the handler is set before the agent starts)

sys.exit(main())
