"""Attack on the vendor id gaps (issue 18): "a missing vendor id range becomes a warning, a metric
and part of the next attestation". A product whose ids skip every other number (a hostile or broken
writer) opens many gaps at once: the attestation and verify must count every missing id, even if
they cannot list every range."""
from __future__ import annotations

import subprocess

import orjson

from tests.test_integrity import KEY, SHIPPER, verify


def line(entry_id: int) -> bytes:
    return orjson.dumps({"time": "2024-05-01T10:00:00Z", "level": "info", "msg": "x", "action": "user_login",
                         "entry_id": entry_id, "actor_id": 1, "actor_description": "Al (al)"})


def test_every_missing_vendor_id_is_counted_in_the_attestation_and_by_verify(tmp_path):
    log = tmp_path / "audit.log"
    log.write_bytes(b"\n".join(line(i) for i in range(1, 602, 2)) + b"\n")  # 1, 3, … 601: 300 ids missing
    (tmp_path / "key").write_text(KEY)
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
    r = subprocess.run(SHIPPER + ["run", "--once", "-c", str(cfg)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "count=300" in r.stderr  # the warning counts them all
    gaps = [e["shipper"]["attestation"].get("vendor_id_gaps") for e in map(orjson.loads, r.stdout.splitlines())
            if e["event"].get("dataset") == "shipper.attestation"]
    assert sum(g["ids"] for g in gaps if g) == 300, gaps
    out = tmp_path / "trail.jsonl"
    out.write_text(r.stdout)
    v = verify(tmp_path, out)
    assert v.returncode == 0, v.stdout
    assert "skip 300 numbers never read" in v.stdout, v.stdout[:1000]
