"""1,500 JSON records with one nested deep among them (at index 700), read once by the json parser to stdout, as the
tests of records nested near or past the depth orjson writes set it up."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

SHIPPER = os.path.join(os.path.dirname(sys.executable), "shipper")


def deep_record(arrays: int) -> bytes:
    """{"user":"deep","payload":[[…]]} with `arrays` nested arrays."""
    return b'{"user":"deep","payload":' + b"[" * arrays + b"]" * arrays + b"}"


def shipped_once_around(tmp_path: Path, deep: bytes, workers: int) -> subprocess.CompletedProcess:
    """records.jsonl: {"user": "u<i>", "n": i} for i < 1500, `deep` inserted at 700 (two batches' worth around it,
    so that both the re-enriched batch and the plain ones are seen); `run --once` of the json parser with
    `workers` parse workers to stdout. Its completed process (a run over 120 s fails the test)."""
    log = tmp_path / "records.jsonl"
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
        return subprocess.run([SHIPPER, "run", "--once", "-c", str(cfg)], capture_output=True, timeout=120)
    except subprocess.TimeoutExpired:
        pytest.fail("run --once did not end within 120 s")
