"""Attack on `shipper verify` (issue 18): a trail cut at its head. Whoever can delete from the store
removes everything before an attestation (here a whole first run of the agent: its start
attestation, its events, its stop attestation). What is left is intact from its first to its last
attestation, so verify exits 0 — as documented, events before the first attestation are not judged.
The auditor's only defence is to check that the first attestation found is at or before the start
of the period under audit, as they must check that the last one is recent; verify prints when the
last attestation was written, but not the first, so the head cut cannot be seen in its answer."""
from __future__ import annotations

import orjson

from tests.core.test_integrity import append, record, run_once, setup, verify


def test_verify_shows_when_the_first_attestation_was_written(tmp_path):
    log, cfg = setup(tmp_path)
    append(log, [record(i) for i in range(4)])
    first_run = run_once(cfg).splitlines()
    append(log, [record(i) for i in range(4, 8)])
    second_run = run_once(cfg).splitlines()
    evs = [orjson.loads(ln) for ln in first_run + second_run]
    reasons = [e["event"].get("reason") for e in evs if e["event"].get("dataset") == "shipper.attestation"]
    assert reasons == ["start", "stop", "resume", "stop"], reasons

    trail = tmp_path / "trail.jsonl"
    trail.write_bytes(b"".join(ln + b"\n" for ln in first_run + second_run))
    whole = verify(tmp_path, trail)
    assert whole.returncode == 0, whole.stdout

    trail.write_bytes(b"".join(ln + b"\n" for ln in second_run))  # the first run deleted from the store
    cut = verify(tmp_path, trail)
    assert cut.returncode == 0, cut.stdout  # what is left is intact ...
    resume = orjson.loads(second_run[0])["event"]
    assert resume["reason"] == "resume"
    # ... and the answer must say where the attested span begins, as it says where it ends
    assert f"{resume['end']} (resume)" in cut.stdout, cut.stdout
