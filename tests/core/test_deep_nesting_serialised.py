"""A record nested deeper than orjson writes (255 levels; it reads 1,024), where the events are
serialised as soon as they are built: in the source's thread for a stdout-only route, and in parse
workers. Brackets are not counted up front there (issue 19: it cost a third of reading a line); the
refused dump enriches the batch again with the check. The record must still be shipped once, flagged
with its text, between its neighbours, and the source must go on."""
from __future__ import annotations

import os
import subprocess
import sys

import orjson
import pytest

SHIPPER = [os.path.join(os.path.dirname(sys.executable), "shipper")]
DEEP = 300


@pytest.mark.parametrize("workers", [0, 2])
def test_a_record_too_deep_to_write_is_shipped_flagged_in_place(tmp_path, workers):
    log = tmp_path / "records.jsonl"
    deep = b'{"user":"deep","payload":' + b"[" * DEEP + b"]" * DEEP + b"}"
    # Two batches' worth around it, so that both the re-enriched batch and the plain ones are seen.
    records = [orjson.dumps({"user": f"u{i}", "n": i}) for i in range(1500)]
    records.insert(700, deep)
    log.write_bytes(b"\n".join(records) + b"\n")
    cfg = tmp_path / "shipper.yaml"
    cfg.write_text(f"""
state_dir: {tmp_path / 'state'}
sources:
  - name: js
    type: file
    paths: [{log}]
    parser: json
    parse_workers: {workers}
outputs:
  - type: stdout
""")
    try:  # a stuck batch is the failure, not a reason to wait long
        r = subprocess.run(SHIPPER + ["run", "--once", "-c", str(cfg)], capture_output=True, timeout=120)
    except subprocess.TimeoutExpired:
        pytest.fail("run --once did not end within 120 s")
    assert r.returncode == 0, r.stderr.decode()[-3000:]
    events = [orjson.loads(line) for line in r.stdout.splitlines()]
    assert len(events) == 1501
    flagged = [i for i, e in enumerate(events) if "_parse_failure" in e.get("tags", ())]
    assert flagged == [700], [events[i] for i in flagged]
    assert events[700]["event"]["original"] == deep.decode()
    assert "nesting" in events[700]["error"]["message"]
    assert [e["generic"]["n"] for i, e in enumerate(events) if i != 700] == list(range(1500)), events[:3]
