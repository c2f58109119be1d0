"""Attacks with deeply nested JSON (issue 18). orjson reads up to 1024 levels but writes only 255,
so an event nested deeper than that is valid JSON the fast canonical form cannot serialise.

- In a stored trail, such a field added to a link is an alteration: verify must name it, not die
  with a traceback.
- In a record the agent reads (the generic `json` parser keeps every field), it must not stop the
  source (no output can write it: each retried the batch for ever): it is shipped as a parse failure
  with its text, and the chain verifies."""
from __future__ import annotations

import subprocess

import orjson
import pytest

from tests.core.test_integrity import KEY, SHIPPER, shipped, verify

DEEP = 300


def test_verify_names_a_link_nested_too_deep_instead_of_crashing(tmp_path):
    capture, lines = shipped(tmp_path, n=5)
    lines[3] = lines[3][:-1] + b',"x":' + b"[" * DEEP + b"]" * DEEP + b"}"
    capture.write_bytes(b"".join(ln + b"\n" for ln in lines))
    r = verify(tmp_path, capture)
    assert "Traceback" not in r.stderr, r.stderr[-2000:]
    assert r.returncode == 1, r.stdout
    assert f"at {capture}:4 does not match its hash" in r.stdout, r.stdout


def test_a_record_nested_deeper_than_255_levels_is_sealed_and_shipped(tmp_path):
    log = tmp_path / "records.jsonl"
    deep = b'{"user":"deep","payload":' + b"[" * DEEP + b"]" * DEEP + b"}"
    log.write_bytes(b"\n".join([orjson.dumps({"user": "before"}), deep, orjson.dumps({"user": "after"})]) + b"\n")
    (tmp_path / "key").write_text(KEY)
    (tmp_path / "key").chmod(0o600)
    cfg = tmp_path / "shipper.yaml"
    cfg.write_text(f"""
state_dir: {tmp_path / 'state'}
integrity: {{key_file: key}}
sources:
  - name: js
    type: file
    paths: [{log}]
    parser: json
    parse_workers: 0
outputs:
  - type: stdout
""")
    try:  # three records take seconds; a stuck batch is the failure, not a reason to wait long
        r = subprocess.run(SHIPPER + ["run", "--once", "-c", str(cfg)], capture_output=True, timeout=40)
    except subprocess.TimeoutExpired:
        pytest.fail("run --once did not end within 40 s")
    assert r.returncode == 0, r.stderr.decode()[-3000:]
    capture = tmp_path / "trail.jsonl"
    capture.write_bytes(r.stdout)
    shipped_lines = r.stdout.decode()
    assert '"before"' in shipped_lines and '"after"' in shipped_lines
    events = [orjson.loads(line) for line in r.stdout.splitlines()]
    flagged = [e for e in events if "_parse_failure" in e.get("tags", ())]
    # shipped as a parse failure with its record's text (no output can write it as parsed)
    assert len(flagged) == 1, events
    assert flagged[0]["event"]["original"] == deep.decode()
    assert "nesting" in flagged[0]["error"]["message"]
    v = verify(tmp_path, capture)
    assert v.returncode == 0, v.stdout + v.stderr[-2000:]
