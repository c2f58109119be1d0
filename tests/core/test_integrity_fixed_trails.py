"""Trails sealed before a change to the sealing code still verify, and the agent's sealing code still
gives each of their links the hash it was shipped with (issue 18: an auditor verifies last year's trail
with this year's release). The trails are fixed files (tests/data/trails/PROVENANCE.md)."""
from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from shipper.integrity import Key, link_hash
from tests.core.test_integrity import KEY, verify

TRAILS = Path(__file__).resolve().parents[1] / "data" / "trails"


@pytest.mark.parametrize("name", ["agent-2026-12-04.jsonl", "shapes-2026-12-04.jsonl"])
def test_a_trail_sealed_before_verifies_and_is_sealed_to_the_same_bytes(tmp_path, name):
    trail = TRAILS / name
    v = verify(tmp_path, trail)
    assert v.returncode == 0, v.stdout
    assert ": intact" in v.stdout, v.stdout
    key, prev = Key.from_text(KEY), ""
    events = [orjson.loads(line) for line in trail.read_bytes().splitlines()]
    for e in events:
        assert link_hash(key, prev, e) == e["event"]["hash"], e
        prev = e["event"]["hash"]
    # The same trail with one character added to a message: that link is named
    lines = trail.read_bytes().splitlines()
    at = next(i for i, ln in enumerate(lines) if b'"message"' in ln and b'"attestation"' not in ln)
    lines[at] = lines[at].replace(b'"message":"', b'"message":"X', 1)
    cut = tmp_path / name
    cut.write_bytes(b"\n".join(lines) + b"\n")
    v = verify(tmp_path, cut)
    assert v.returncode == 1 and f"{name}:{at + 1} does not match its hash" in v.stdout, v.stdout
