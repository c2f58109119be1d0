"""Attack on the vendor id gaps (issue 18): "a missing vendor id range becomes a warning, a metric
and part of the next attestation". A product whose ids skip every other number (a hostile or broken
writer) opens many gaps at once: the attestation and verify must count every missing id, even if
they cannot list every range."""
from __future__ import annotations

import orjson

from tests.core.test_integrity import KEY, verify
from tests.parsers.test_vendor_ids import run_posit


def test_every_missing_vendor_id_is_counted_in_the_attestation_and_by_verify(tmp_path):
    r = run_posit(tmp_path, range(1, 602, 2), key=KEY)  # 1, 3, … 601: 300 ids missing
    assert r.returncode == 0, r.stderr[-2000:]
    assert "count=300" in r.stderr  # the warning counts them all
    gaps = [e["shipper"]["attestation"].get("vendor_id_gaps") for e in map(orjson.loads, r.stdout.splitlines())
            if e["event"].get("dataset") == "shipper.attestation"]
    assert sum(g["ids"] for g in gaps if g) == 300, gaps
    out = tmp_path / "trail.jsonl"
    out.write_text(r.stdout)
    v = verify(tmp_path, out)
    assert v.returncode == 0, v.stdout
    assert "skip 300 numbers never read" in v.stdout, v.stdout[:1000]
