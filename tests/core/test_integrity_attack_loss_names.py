"""Attack on the attestations (issue 18): "the counts since the last one — ... bytes and files lost
with their names". A file truncated in place before the agent read its new lines is a loss the
agent sees and warns about; the attestation and verify must name the file, not only count it."""
from __future__ import annotations

import os

import orjson

from tests.core.test_integrity import append, record, run_once, setup, verify


def test_a_declared_loss_names_the_file(tmp_path):
    log, cfg = setup(tmp_path)
    append(log, [record(i) for i in range(10)])
    first = run_once(cfg)
    append(log, [record(i) for i in range(10, 20)])  # written while the agent is stopped ...
    os.truncate(log, 0)  # ... and truncated in place (copytruncate without a copy)
    append(log, [record(i) for i in range(20, 23)])
    second = run_once(cfg)
    capture = tmp_path / "trail.jsonl"
    capture.write_bytes(first + second)
    atts = [e["shipper"]["attestation"] for e in map(orjson.loads, second.splitlines())
            if e["event"].get("dataset") == "shipper.attestation"]
    assert sum(a["losses"] for a in atts) == 1
    assert str(log) in orjson.dumps(atts).decode(), atts  # the attestation names what was lost
    v = verify(tmp_path, capture)
    assert v.returncode == 1
    loss = [ln for ln in v.stdout.splitlines() if "loss:" in ln]
    assert loss and str(log) in loss[0], v.stdout
