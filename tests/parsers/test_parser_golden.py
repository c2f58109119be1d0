"""The parsers' golden corpora (tests/data/golden/): every record of a fixed corpus gives the events it
gave when the golden was written, byte for byte, from a cold parser, a warm one (its memos full) and
one in another time zone. A speed change (memos, fast paths) must alter no output byte: this says
which record changed. The corpus holds every catalogue action in the shapes the parsers' tests
make, the public samples, and lines that are no record; bench/parsers_<product>_profile.py made it.

The golden keeps a digest of each record's events, not the events (that would be megabytes). When a
change is meant to alter the output, rewrite the digests and say so in the commit:

    SHIPPER_GOLDEN_WRITE=1 .venv/bin/pytest -q -p no:cacheprovider tests/parsers/test_parser_golden.py
"""
from __future__ import annotations

import hashlib
import importlib
import os
from pathlib import Path
from typing import Any

import orjson
import pytest

from shipper import ecs

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "golden"
# Records without a readable time get the clock: pinned, since it is no output byte of the parser's.
PINNED_NOW = "2000-01-01T00:00:00.000Z"

# product → (parser module, parser class, options of the parser in another zone, or None)
PRODUCTS: dict[str, tuple[str, str, dict | None]] = {
    "datameer": ("shipper_plugins.parsers.datameer", "DatameerParser", {"timezone": "America/New_York"}),
    "posit_connect": ("shipper_plugins.parsers.posit_connect", "PositConnectParser", {"timezone": "America/New_York"}),
    "databricks": ("shipper_plugins.parsers.databricks", "DatabricksParser", None),
    "cloudera_ai": ("shipper_plugins.parsers.cloudera_ai", "ClouderaAIParser", {"timezone": "Europe/Berlin"}),
    "puppet_enterprise": ("shipper_plugins.parsers.puppet_enterprise", "PuppetEnterpriseParser",
                          {"timezone": "America/New_York"}),
}


def read_records(product: str) -> list[bytes]:
    """One record a line, as a JSON string whose code points are the record's bytes (latin-1)."""
    text = (GOLDEN / f"{product}.records").read_bytes()
    return [orjson.loads(line).encode("latin-1") for line in text.splitlines()]


def write_records(product: str, records: list[bytes]) -> None:
    (GOLDEN / f"{product}.records").write_bytes(b"".join(orjson.dumps(r.decode("latin-1")) + b"\n" for r in records))


def outputs(parser: Any, records: list[bytes]) -> list[bytes]:
    """Each record's events, one JSON line each after their count (parse_batch: the file source's path)."""
    return [b"%d\n" % len(events) + b"".join(orjson.dumps(ev) + b"\n" for ev in events)
            for events in parser.parse_batch(records)]


def digest(out: bytes) -> str:
    return hashlib.sha256(out).hexdigest()[:20]


@pytest.mark.parametrize("product", sorted(PRODUCTS))
def test_parser_output_is_the_golden(product, monkeypatch):
    module_name, class_name, zone = PRODUCTS[product]
    module = importlib.import_module(module_name)
    for m in (ecs, module):
        monkeypatch.setattr(m, "now_iso", lambda: PINNED_NOW, raising=False)
    make = getattr(module, class_name)
    records = read_records(product)
    parser = make()
    cold = outputs(parser, records)
    assert len(cold) == len(records), "parse_batch gives one list of events per record"
    warm = outputs(parser, records)
    for i, (c, w) in enumerate(zip(cold, warm)):
        assert c == w, f"record {i} {records[i][:300]!r}: a warm parser said\n{w[:1500]!r}\nwhere a cold one said\n{c[:1500]!r}"
    zoned = outputs(make(zone), records) if zone else cold
    got = [f"{digest(c)} {digest(z)}" for c, z in zip(cold, zoned)]
    path = GOLDEN / f"{product}.digests"
    if os.environ.get("SHIPPER_GOLDEN_WRITE"):
        path.write_text("".join(g + "\n" for g in got), encoding="ascii")
    want = path.read_text(encoding="ascii").splitlines()
    assert len(want) == len(records), f"{path.name}: {len(want)} digests for {len(records)} records"
    for i, (g, w) in enumerate(zip(got, want)):
        if g != w:
            which = "UTC parser" if g.split()[0] != w.split()[0] else f"parser in {zone['timezone'] if zone else '-'}"
            out = cold[i] if which == "UTC parser" else zoned[i]
            pytest.fail(f"{product} record {i} gives other events than the golden's ({which}):\n"
                        f"record {records[i][:500]!r}\nnow gives {out[:2000]!r}\n(a change meant to alter the output: "
                        f"SHIPPER_GOLDEN_WRITE=1 pytest tests/parsers/test_parser_golden.py, and say so in the commit)")


if __name__ == "__main__":
    # Rewrites the corpora from bench/parsers_<product>_profile.py (without bench/corpus.py's mix: every
    # catalogue action shaped as the tests shape them, the public samples, lines that are no record):
    #     .venv/bin/python -m tests.parsers.test_parser_golden
    # then the digests (SHIPPER_GOLDEN_WRITE above). The corpus is seeded: the same on every run.
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
    for name in sorted(PRODUCTS):
        lines = importlib.import_module(f"parsers_{name}_profile").golden_lines(0)
        write_records(name, lines)
        print(f"{GOLDEN / name}.records: {len(lines)} records")
