"""`shipper cat` reads a file as the file source does (README): a line with a byte that is not UTF-8 is
tagged `_invalid_encoding` by both, and both give the same tags for every line (the real commands)."""
from __future__ import annotations

import subprocess
from pathlib import Path

import orjson

from tests.core.test_checkpoint_faults import SHIPPER


def test_cat_tags_what_the_file_source_tags(tmp_path: Path):
    log = tmp_path / "useraction.log"
    lines = [b'{"timestamp":"2026-07-01 12:00:00","actionType":"JOB","action":"START_EXECUTION","performingUser":"jos\xe9"}',
             b'{"timestamp":"2026-07-01 12:00:01","actionType":"JOB","action":"START_EXECUTION","performingUser":"ann"}',
             b'not json \xff',
             b'{"timestamp":"2026-07-01 12:00:02","actionType":"JOB","action":"START_EXECUTION","performingUser":"\xc3\xa9"}']
    log.write_bytes(b"\n".join(lines) + b"\n")
    cat = subprocess.run(SHIPPER + ["cat", "-p", "datameer", str(log)], capture_output=True, timeout=120)
    assert cat.returncode == 0, cat.stderr.decode()
    cfg = tmp_path / "shipper.yaml"
    cfg.write_text(f"""
state_dir: {tmp_path / 'state'}
sources:
  - {{name: dm, type: file, paths: ['{log}'], parser: datameer}}
outputs:
  - type: stdout
""")
    run = subprocess.run(SHIPPER + ["run", "--once", "-c", str(cfg)], capture_output=True, timeout=120)
    assert run.returncode == 0, run.stderr.decode()
    by_cat = [orjson.loads(l).get("tags", []) for l in cat.stdout.splitlines()]
    by_run = [orjson.loads(l).get("tags", []) for l in run.stdout.splitlines()]
    assert by_cat == by_run
    assert ["_invalid_encoding" in t for t in by_cat] == [True, False, True, False]  # é in UTF-8 is no fault
    assert "_parse_failure" in by_cat[2] and "_parse_failure" not in by_cat[0]
