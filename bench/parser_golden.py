"""What bench/parsers_*_profile.py share: a parser's golden output (written once before a speed change,
compared after each: the change altered no output byte), a CPU clock, and their command line
(`golden`, `time` beside the floor, `count` for cachegrind)."""
from __future__ import annotations

import argparse
import gc
import time
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Iterable

import orjson

# Records without a readable time get the clock: pinned, since it is no output byte of the parser's.
PINNED_NOW = "2000-01-01T00:00:00.000Z"
NL = b"\n"
# Lines that are no record, in every golden corpus (each adds its product's half-records): blank, cut,
# not JSON, JSON of another type, not UTF-8, NULs, and what orjson refuses (NaN, 1e400, a lone surrogate).
NOT_RECORDS = [b"", b"  ", b"\t", b"{", b"}", b"{truncated", b"[]", b'["a", "list"]', b"42", b'"text"', b"null", b"{}",
               b"not json at all", b"\xff\xfe", b"\x00\x00\x00", b'{"a": 1} trailing', b'{"a": NaN}', b'{"a": 1e400}',
               b'{"x": "\\ud800"}']


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


# --- the command line every bench/parsers_<product>_profile.py has ----------------------------------


def _setup(lines: list[bytes], batch: int) -> list[list[bytes]]:
    """The runner's GC settings (shipper/runner.py: without them the collector hides the mapping), and the
    lines in file-source batches."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(100_000, 50, 1000)
    return [lines[i:i + batch] for i in range(0, len(lines), batch)]


def _parse_dumps(parser: Any, batches: list[list[bytes]]) -> None:
    dumps = orjson.dumps
    for batch in batches:
        for events in parser.parse_batch(batch):
            for ev in events:
                dumps(ev)


def _timing(a, make_parser, lines: list[bytes], json_lines: list[bytes], mapper) -> int:
    batches = _setup(lines, a.batch)
    parser = make_parser()
    dumps, loads = orjson.dumps, orjson.loads
    parsed = [evs for b in batches for evs in parser.parse_batch(b)]
    n_events = sum(map(len, parsed))

    def json_only():
        for line in json_lines:
            dumps(loads(line))

    def floor_loop():  # bench/floor.py's Python floor (on JSON lines), without its file writes
        for line in json_lines:
            for ev in mapper(loads(line)):
                dumps(ev)

    def events_dumps():
        for evs in parsed:
            for ev in evs:
                dumps(ev)

    def parse_only():
        for batch in batches:
            parser.parse_batch(batch)

    print(f"{len(lines)} records ({n_events / len(lines):.2f} events each) in batches of {a.batch}, "
          f"mean {sum(map(len, lines)) / len(lines):.0f} B; best of {a.rounds}")
    res = {}
    for name, fn in (("orjson loads+dumps", json_only), ("floor loop", floor_loop), ("dumps of the events", events_dumps),
                     ("parse_batch", parse_only), ("parse_batch + dumps", lambda: _parse_dumps(parser, batches))):
        res[name] = best = min(cpu_clock(fn) for _ in range(a.rounds))
        print(f"{name:<22}{best / len(lines) * 1e6:8.2f} µs/record")
    per = 1e6 / len(lines)
    print(f"{'mapping alone':<22}{(res['parse_batch + dumps'] - res['orjson loads+dumps']) * per:8.2f} µs/record"
          f"   (floor's mapping {(res['floor loop'] - res['orjson loads+dumps']) * per:.2f})")
    return 0


def _count(a, make_parser, lines: list[bytes], json_lines: list[bytes], mapper) -> int:
    """parse_batch + dumps (--json: loads + dumps; --floor: bench/floor.py's loop) --rounds times: run under
    cachegrind, minus the same with --rounds 0 (the corpus and the imports)."""
    batches = _setup(lines, a.batch)
    parser, dumps, loads = make_parser(), orjson.dumps, orjson.loads
    for _ in range(a.rounds):
        if a.json:
            for line in json_lines:
                dumps(loads(line))
        elif a.floor:
            for line in json_lines:
                for ev in mapper(loads(line)):
                    dumps(ev)
        else:
            _parse_dumps(parser, batches)
    return 0


def cli(make_parser: Callable[[], Any], corpus: Callable[[int, Any], Iterable[bytes]], floor_mapper: Callable[[], Any],
        golden_lines: Callable[[], list[bytes]], golden_bytes: Callable[[list[bytes]], bytes],
        json_corpus: Callable[[int, Any], Iterable[bytes]] | None = None,
        add_arguments: Callable[[argparse.ArgumentParser], None] | None = None) -> int:
    """`golden --write/--check FILE`, `time` and `count` for one parser. `corpus(records, args)` is what the
    parser reads (bench/corpus.py's backfill corpus); `json_corpus` the same records as JSON lines for the
    anchors, when the parser reads another format."""
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("golden")
    m = g.add_mutually_exclusive_group(required=True)
    m.add_argument("--write")
    m.add_argument("--check")
    for name, records, rounds in (("time", 100_000, 5), ("count", 10_000, 1)):
        t = sub.add_parser(name)
        t.add_argument("--records", type=int, default=records)
        t.add_argument("--rounds", type=int, default=rounds)
        t.add_argument("--batch", type=int, default=1000, help="lines per parse_batch call (the file source's batch_lines)")
        if add_arguments:
            add_arguments(t)
    w = t.add_mutually_exclusive_group()  # t: the count parser, made last
    w.add_argument("--json", action="store_true", help="orjson loads + dumps of each (JSON) line instead of the parser")
    w.add_argument("--floor", action="store_true", help="bench/floor.py's loop for the product instead of the parser")
    a = ap.parse_args()
    if a.cmd == "golden":
        return write_or_check(golden_bytes(golden_lines()), a.write, a.check)
    lines = list(corpus(a.records, a))
    json_lines = list(json_corpus(a.records, a)) if json_corpus else lines
    run = _timing if a.cmd == "time" else _count
    return run(a, make_parser, lines, json_lines, floor_mapper())
