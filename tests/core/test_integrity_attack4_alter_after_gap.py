"""Attack on `shipper verify` (issue 18): one removal buys one free alteration. A link's hash is an
HMAC over its predecessor's hash and its own content, and only attestations carry the hash before
them (`previous_hash`); an event's content can be checked only against the link stored before it.
Remove event N and rewrite event N+1 (another user, another action): verify names "missing:
sequences N" and nothing about N+1 — neither that it is altered nor that it could not be checked.
An honest gap does the same: an event an output dead-lettered (declared in the attestation) leaves
the event after it open to any change, and the auditor, told of the declared loss and the one
missing sequence, sees the whole story explained."""
from __future__ import annotations

import re

import orjson

from tests.core.test_integrity import shipped, verify


def test_the_event_after_a_removed_one_is_not_passed_over(tmp_path):
    capture, lines = shipped(tmp_path, n=20)
    evs = [orjson.loads(ln) for ln in lines]
    by_seq = {e["event"]["sequence"]: e for e in evs}
    assert "user" in by_seq[11], by_seq[11]
    by_seq[11]["user"]["name"] = "someone-else"  # who did it, rewritten
    kept = [e for e in evs if e["event"]["sequence"] != 10]  # and the event before it removed
    capture.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in kept))
    r = verify(tmp_path, capture)
    assert r.returncode == 1, r.stdout
    assert "missing: sequences 10" in r.stdout, r.stdout
    # sequence 11 is named: altered, or at least not proven (its predecessor is gone)
    assert re.search(r"\bsequence 11\b", r.stdout), r.stdout
