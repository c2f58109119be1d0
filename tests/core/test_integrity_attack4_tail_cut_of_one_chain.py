"""Attack on `shipper verify` (issue 18): the tail of one chain cut while the other chains of the
same output stay whole. Two sources ship to one stdout capture; every link of source b after its
start attestation is deleted (its events and its stop attestation). Source a's stop attestation,
in the input and intact, records where b stood on that output (`outputs.stdout.chains`: b at
sequence N), so the trail itself proves b's links 2..N were cut. verify answers "every chain
intact": b's last attestation is older than a's by less than one attest_interval, so "check that
the last attestation is recent" does not show the cut either."""
from __future__ import annotations

import subprocess

import orjson

from tests.core.test_integrity import KEY, SHIPPER, record, verify


def test_a_chain_cut_short_is_named_by_the_attestations_of_the_others(tmp_path):
    (tmp_path / "key").write_text(KEY + "\n")
    (tmp_path / "key").chmod(0o600)
    for name in ("a", "b"):
        (tmp_path / f"{name}.log").write_bytes(b"".join(record(i) + b"\n" for i in range(5)))
    cfg = tmp_path / "shipper.yaml"
    cfg.write_text(f"""
state_dir: {tmp_path / 'state'}
host_name: h
integrity: {{key_file: key}}
sources:
  - {{name: a, type: file, paths: ['{tmp_path / 'a.log'}'], parser: datameer, parse_workers: 0}}
  - {{name: b, type: file, paths: ['{tmp_path / 'b.log'}'], parser: datameer, parse_workers: 0}}
outputs:
  - type: stdout
""")
    r = subprocess.run(SHIPPER + ["run", "--once", "-c", str(cfg)], capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr.decode()
    lines = r.stdout.splitlines()
    evs = [orjson.loads(ln) for ln in lines]
    a_stop = next(e for e in evs if e["labels"]["shipper_chain"] == "h/a" and e["event"].get("reason") == "stop")
    b_seen = {c["chain"]: c["sequence"] for c in a_stop["shipper"]["attestation"]["outputs"]["stdout"]["chains"]}
    b_at = b_seen["h/b"]
    assert b_at >= 6, b_seen  # a's stop attestation saw b's five events sealed

    trail = tmp_path / "trail.jsonl"
    trail.write_bytes(b"".join(ln + b"\n" for ln in lines))
    assert verify(tmp_path, trail).returncode == 0

    kept = [ln for ln, e in zip(lines, evs) if not (e["labels"]["shipper_chain"] == "h/b" and e["event"]["sequence"] > 1)]
    trail.write_bytes(b"".join(ln + b"\n" for ln in kept))  # b cut after its start attestation
    cut = verify(tmp_path, trail)
    assert cut.returncode == 1, cut.stdout
    assert f"2-{b_at}" in cut.stdout, cut.stdout  # the links a's attestation proves b had sealed
