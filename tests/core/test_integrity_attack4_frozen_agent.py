"""Attack on `shipper verify` (issue 18): an agent frozen, not stopped. verify now names the time
between a stop and the next resume ("the agent was not running"), but whoever wants an unwatched
window need not stop the agent: SIGSTOP freezes it (no attestation, no reading) and SIGCONT later
lets it go on as if nothing happened. The trail then holds one `interval` attestation whose period
(event.start to event.end) spans the whole freeze, many times attest_interval, and verify says
"intact" with no word of it: "the agent was gone" (the issue's words) cannot be told from its answer."""
from __future__ import annotations

import os
import signal
import subprocess
import time

import orjson

from tests.core.test_integrity import SHIPPER, append, record, setup, verify


def _attestations(path) -> list[dict]:
    data = path.read_bytes()
    data = data[: data.rfind(b"\n") + 1]
    return [e["event"] for e in map(orjson.loads, data.splitlines()) if e["event"].get("dataset") == "shipper.attestation"]


def _wait_for(cond, what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def test_verify_names_the_time_a_frozen_agent_did_not_attest(tmp_path):
    log, cfg = setup(tmp_path)
    cfg.write_text(cfg.read_text().replace("integrity: {key_file: key}",
                                           "integrity: {key_file: key, attest_interval: 1}"))
    append(log, [record(0)])
    capture = tmp_path / "trail.jsonl"
    with open(capture, "wb") as out:
        proc = subprocess.Popen(SHIPPER + ["run", "-c", str(cfg)], stdout=out, stderr=subprocess.DEVNULL)
    try:
        _wait_for(lambda: sum(a["reason"] == "interval" for a in _attestations(capture)) >= 2, "interval attestations")
        os.kill(proc.pid, signal.SIGSTOP)
        time.sleep(8)  # the window: eight attest_intervals with the agent frozen
        os.kill(proc.pid, signal.SIGCONT)
        seen = len(_attestations(capture))
        _wait_for(lambda: len(_attestations(capture)) >= seen + 2, "attestations after the freeze")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(120) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
    atts = _attestations(capture)
    assert atts[-1]["reason"] == "stop"

    def seconds(t: str) -> float:
        return time.mktime(time.strptime(t[:19], "%Y-%m-%dT%H:%M:%S")) + float(t[19:23] or 0)

    longest = max(atts[1:], key=lambda a: seconds(a["end"]) - seconds(a["start"]))
    assert seconds(longest["end"]) - seconds(longest["start"]) >= 6, longest  # the freeze, in one attestation
    r = verify(tmp_path, capture)
    assert r.returncode == 0, r.stdout  # nothing is missing ...
    # ... but the window in which the agent did not attest must be named
    assert longest["start"] in r.stdout and longest["end"] in r.stdout, r.stdout
