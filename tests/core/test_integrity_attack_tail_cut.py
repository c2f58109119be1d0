"""Attack on `shipper verify` (issue 18): a trail cut after an attestation, the later attestations
with it. docs/evidence.md: events after the last attestation can be cut without a trace, so the
auditor must "check that the last attestation is recent". verify must show which attestation is
the last one it found (its time and why it was written), or that check cannot be made from its
answer."""
from __future__ import annotations

import orjson

from tests.core.test_integrity import shipped, verify


def test_verify_shows_when_the_last_attestation_was_written(tmp_path):
    capture, lines = shipped(tmp_path, n=5)
    events = [orjson.loads(ln) for ln in lines]
    start, stop = events[0]["event"], events[-1]["event"]
    assert (start["reason"], stop["reason"]) == ("start", "stop")
    whole = verify(tmp_path, capture)
    assert whole.returncode == 0 and f"last attestation: {stop['end']} (stop)" in whole.stdout, whole.stdout
    capture.write_bytes(b"".join(ln + b"\n" for ln in lines[:4]))  # cut after the start attestation
    cut = verify(tmp_path, capture)
    assert cut.returncode == 0, cut.stdout  # what is left is intact ...
    assert f"last attestation: {start['end']} (start)" in cut.stdout, cut.stdout  # ... and it says how far it goes
