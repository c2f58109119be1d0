"""Attack on `shipper verify` (issue 18): the head of one chain cut while the other chains of the
same output stay whole — the mirror of test_integrity_attack4_tail_cut_of_one_chain (whose fix
names a tail cut from the other chains' attestations). Two sources ship to one stdout capture;
every link of source b before its stop attestation is deleted (its start attestation and all its
events). Source a's start and stop attestations, in the input and intact, record where b stood on
that output at each (`outputs.stdout.chains`), so the trail itself proves b sealed links between
them that are gone. verify answers "every chain intact"; b's first attestation is later than a's by
less than one attest_interval, so the printed first attestation does not show the cut either."""
from __future__ import annotations

import subprocess

import orjson

from tests.core.test_integrity import KEY, SHIPPER, record, verify


def test_a_chain_whose_head_was_cut_is_named_by_the_attestations_of_the_others(tmp_path):
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

    def b_seen_by_a(reason: str) -> int:
        att = next(e for e in evs if e["labels"]["shipper_chain"] == "h/a" and e["event"].get("reason") == reason)
        return {c["chain"]: c["sequence"] for c in att["shipper"]["attestation"]["outputs"]["stdout"]["chains"]}["h/b"]

    b_stop = next(e for e in evs if e["labels"]["shipper_chain"] == "h/b" and e["event"].get("reason") == "stop")
    assert b_seen_by_a("stop") - b_seen_by_a("start") >= 5  # a saw b seal its five events meanwhile

    trail = tmp_path / "trail.jsonl"
    trail.write_bytes(b"".join(ln + b"\n" for ln in lines))
    assert verify(tmp_path, trail).returncode == 0

    stop_seq = b_stop["event"]["sequence"]
    kept = [ln for ln, e in zip(lines, evs) if not (e["labels"]["shipper_chain"] == "h/b"
                                                     and e["event"]["sequence"] < stop_seq)]
    trail.write_bytes(b"".join(ln + b"\n" for ln in kept))  # b's head deleted: only its stop attestation left
    cut = verify(tmp_path, trail)
    assert cut.returncode == 1, cut.stdout
    about_b = [ln for ln in cut.stdout.splitlines() if "h/b" in ln and not ln.endswith(": intact")]
    assert about_b, cut.stdout  # b's deleted links are named
