"""What bench/parsers_*_profile.py share: a parser's golden output (written once before a speed change,
compared after each: the change altered no output byte) and a CPU clock for timing it."""
from __future__ import annotations

import time
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

import orjson

# Records without a readable time get the clock: pinned, since it is no output byte of the parser's.
PINNED_NOW = "2000-01-01T00:00:00.000Z"
NL = b"\n"


def _run(parser: Any, lines: list[bytes]) -> bytes:
    out = []
    for events in parser.parse_batch(lines):
        out.append(b"%d\n" % len(events))
        out += [orjson.dumps(ev) + NL for ev in events]
    return b"".join(out)


def output(make_parser: Callable[[], Any], lines: list[bytes], clock_modules: list[ModuleType],
           others: tuple = ()) -> bytes:
    """Every event of `lines`, one JSON line each after its record's event count: from one parser run
    twice (a warm parser must say what a cold one does: stops if not), then from each of `others`
    (e.g. a parser in another zone). `now_iso` is pinned in `clock_modules` meanwhile."""
    saved = [(m, m.now_iso) for m in clock_modules]
    for m, _ in saved:
        m.now_iso = lambda: PINNED_NOW
    try:
        parser = make_parser()
        runs = [_run(p, lines) for p in (parser, parser, *others)]
        if runs[0] != runs[1]:
            raise SystemExit("a warm parser said something else than a cold one")
        return b"".join(runs)
    finally:
        for m, now in saved:
            m.now_iso = now


def write_or_check(got: bytes, write: str | None, check: str | None) -> int:
    if write:
        Path(write).write_bytes(got)
        print(f"wrote {write}: {got.count(NL)} lines, {len(got)} bytes")
        return 0
    want = Path(check).read_bytes()
    if got == want:
        print(f"golden OK: {len(got)} bytes identical")
        return 0
    gl, wl = got.split(NL), want.split(NL)
    for i, (g, w) in enumerate(zip(gl, wl)):
        if g != w:
            print(f"golden DIFFERS at line {i}:\n  want {w[:600]!r}\n  got  {g[:600]!r}")
            break
    else:
        print(f"golden DIFFERS in length: want {len(wl)} lines, got {len(gl)}")
    return 1


def cpu_clock(fn: Callable[[], Any]) -> float:
    """CPU seconds of this process running fn: steadier than wall time on a host shared with test runs."""
    t0 = time.process_time()
    fn()
    return time.process_time() - t0
