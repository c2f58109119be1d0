"""Gaps in a product's own numbering (shipper.vendor_ids): found, filled by late ids, reported once
after the grace period, carried across restarts; and end to end for Posit Connect's entry_id."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
from hypothesis import given, settings, strategies as st

from shipper.vendor_ids import VendorIdGaps

SHIPPER = [sys.executable, "-m", "shipper.cli"]


def test_a_jump_opens_a_gap_a_late_id_fills_it_and_what_stays_open_is_reported_once():
    g = VendorIdGaps()
    g.observe(["1", "2", "6", "7", 12], now=0.0)
    assert [(lo, hi) for lo, hi, _ in g.open] == [(3, 5), (8, 11)]
    g.observe(["4", "9", "x", None, "-3"], now=1.0)  # late commits; junk ignored
    assert [(lo, hi) for lo, hi, _ in g.open] == [(3, 3), (5, 5), (8, 8), (10, 11)]
    assert g.due(now=100.0, grace=300) == []
    assert g.due(now=301.0, grace=300) == [(3, 3), (5, 5), (8, 8), (10, 11)]
    assert g.due(now=1000.0, grace=300) == [] and g.open == []


def test_the_state_goes_on_after_a_restart():
    g = VendorIdGaps()
    g.observe([1, 5], now=0.0)
    again = VendorIdGaps(orjson.loads(orjson.dumps(g.state())))
    again.observe([6, 3], now=0.0)
    assert again.highest == 6 and [(lo, hi) for lo, hi, _ in again.open] == [(2, 2), (4, 4)]


@settings(max_examples=200, deadline=None)
@given(st.sets(st.integers(1, 200), min_size=1), st.randoms())
def test_property_what_is_reported_is_exactly_what_never_came(seen, rnd):
    ids = sorted(seen)
    late = [i for i in ids if rnd.random() < 0.3]
    first = [i for i in ids if i not in late]
    g = VendorIdGaps()
    g.observe(first, now=0.0)
    g.observe(late, now=1.0)
    reported = g.due(now=10_000.0, grace=1.0)
    missing = {n for lo, hi in reported for n in range(lo, hi + 1)}
    order = first + late
    expected = {n for n in range(order[0], max(order) + 1) if n not in seen}  # below the first id: not a gap
    assert missing == expected


def line(entry_id: int) -> bytes:
    return orjson.dumps({"time": "2024-05-01T10:00:00Z", "level": "info", "msg": "x", "action": "user_login",
                         "entry_id": entry_id, "actor_id": 1, "actor_description": "Al (al)"})


def run_posit(tmp_path: Path, ids, key: str = "k" * 32) -> subprocess.CompletedProcess:
    """`shipper run --once` over a Posit Connect log of these entry ids, integrity on, gaps named at once."""
    log = tmp_path / "audit.log"
    log.write_bytes(b"\n".join(line(i) for i in ids) + b"\n")
    (tmp_path / "key").write_text(key)
    (tmp_path / "key").chmod(0o600)
    cfg = tmp_path / "shipper.yaml"
    cfg.write_text(f"""
state_dir: {tmp_path / 'state'}
integrity: {{key_file: key}}
sources:
  - {{name: posit, type: file, paths: ['{log}'], parser: posit_connect, vendor_id_grace: 0}}
outputs:
  - type: stdout
""")
    return subprocess.run(SHIPPER + ["run", "--once", "-c", str(cfg)], capture_output=True, text=True, timeout=120)


def test_posit_entry_ids_that_skip_are_warned_counted_and_attested(tmp_path: Path):
    r = run_posit(tmp_path, [1, 2, 3, 7, 8, 9])
    assert r.returncode == 0, r.stderr
    assert "missing_ids=4-6" in r.stderr and "count=3" in r.stderr
    stop = [orjson.loads(l) for l in r.stdout.splitlines()][-1]
    assert stop["shipper"]["attestation"]["vendor_id_gaps"] == {"ids": 3, "ranges": [[4, 6]]}
    out = tmp_path / "trail.jsonl"
    out.write_text(r.stdout)
    (tmp_path / "v.key").write_text("k" * 32)
    v = subprocess.run(SHIPPER + ["verify", "--key-file", str(tmp_path / "v.key"), str(out)],
                       capture_output=True, text=True, timeout=60)
    assert v.returncode == 0, v.stdout  # a question for the product's database, not a broken chain
    assert "note: the product's own ids skip 3 numbers never read (4-6)" in v.stdout
