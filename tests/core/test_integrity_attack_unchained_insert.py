"""Attack on `shipper verify` (issue 18): an event inserted without any chain fields. With
integrity on, every event the agent ships is a link; an event without `labels.shipper_chain`,
`event.sequence` and `event.hash` in a trail is one nobody sealed (docs/evidence.md: "nothing was
inserted"). verify may not judge it, but it must not say the trail verified."""
from __future__ import annotations

import orjson

from tests.core.test_integrity import shipped, verify


def test_an_inserted_event_without_a_chain_fails_verification(tmp_path):
    capture, lines = shipped(tmp_path, n=5)
    forged = orjson.loads(lines[3])
    forged["user"]["name"] = "mallory"
    del forged["event"]["hash"], forged["event"]["sequence"], forged["labels"]
    lines.insert(4, orjson.dumps(forged))
    capture.write_bytes(b"".join(ln + b"\n" for ln in lines))
    r = verify(tmp_path, capture)
    assert r.returncode == 1, r.stdout
    assert "1 events carry no chain" in r.stdout
