"""Attack on `shipper verify` (issue 18): time the agent was not running. The issue promises
attestations "so a reader can tell 'nothing happened' from 'the agent was gone'", and
docs/evidence.md: "A gap between one attestation's end and the next one's start is time the agent
was not running". Whoever wants an unwatched window stops the agent (or freezes it: SIGSTOP gives
one `interval` attestation spanning the whole freeze) and starts it again later; verify answers
"intact" and names no window, so the auditor relying on it is never told the agent was gone."""
from __future__ import annotations

import time

import orjson

from tests.core.test_integrity import append, record, run_once, setup, verify


def test_verify_names_the_time_the_agent_was_not_running(tmp_path):
    log, cfg = setup(tmp_path)
    cfg.write_text(cfg.read_text().replace("integrity: {key_file: key}",
                                           "integrity: {key_file: key, attest_interval: 1}"))
    append(log, [record(0)])
    first = run_once(cfg)
    time.sleep(4)  # the window: four attest_intervals with no agent at all
    append(log, [record(1)])
    second = run_once(cfg)
    lines = (first + second).splitlines()
    atts = [e["event"] for e in map(orjson.loads, lines) if e["event"].get("dataset") == "shipper.attestation"]
    stop = next(a for a in atts if a["reason"] == "stop")
    resume = next(a for a in atts if a["reason"] == "resume")
    assert resume["start"] > stop["end"], (stop, resume)  # the attestations themselves show the window

    trail = tmp_path / "trail.jsonl"
    trail.write_bytes(first + second)
    r = verify(tmp_path, trail)
    assert r.returncode == 0, r.stdout  # a restart is no break in the chain ...
    # ... but the window must be named, from the stop's end to the resume's start
    assert stop["end"] in r.stdout and resume["start"] in r.stdout, r.stdout
