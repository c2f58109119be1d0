"""Black-box attack 10 (the wall clock, on the writer's side): Datameer writes `useraction.log` times in local time
without a zone (`"timestamp":"2026-10-25 02:10:00"`), read in the source's `timezone:`. In a zone with daylight
saving time the clock falls back once a year and the hour 02:00-02:59 happens twice (Europe/Berlin, 25 October
2026: CEST 02:00-02:59 = 00:00-00:59 UTC, then CET 02:00-02:59 = 01:00-01:59 UTC).

Found (`shipper cat -p datameer --timezone Europe/Berlin`, 2 of 2, and with this test): every time of the
repeated hour is read as its first pass. A login written at 02:10 after lines of 02:30 and 02:59 (so in the
second pass, 01:10 UTC) gets `@timestamp` 00:10 UTC: an hour early, sorted before events that happened before
it, and nothing on the event says its time was a guess (no tag; `event.timezone` says only the zone).

Promised (docs/evidence.md): "an auditor searching by time can trust the `@timestamp` of every event but a
parse failure without `event.created` and an event tagged `_read_time`". So the second pass must be told from
the file's order (times only move forward in an append-only log), or the events of the repeated hour tagged as
ambiguous."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

LINES = [  # in the order Datameer wrote them, 25 October 2026, Europe/Berlin
    ("01:59:00", "before"),
    ("02:30:00", "first-pass"),
    ("02:59:59", "first-pass-last"),
    ("02:10:00", "second-pass"),  # the clock fell back at 03:00 CEST
    ("03:10:00", "after"),
]


@pytest.mark.xfail(strict=True, reason="issue 13: a zone-less time in the hour DST repeats is read as its first "
                                       "pass: an event of the second pass is stamped an hour early, untagged")
def test_a_time_in_the_repeated_hour_is_not_stamped_an_hour_early_silently(tmp_path):
    log = tmp_path / "useraction.log"
    log.write_text("".join(json.dumps({"timestamp": f"2026-10-25 {t}", "action-type": "AUTHENTICATION",
                                       "action": "LOGIN", "performing-user": user, "ip-address": "192.0.2.10"}) + "\n"
                           for t, user in LINES))
    r = subprocess.run([sys.executable, "-m", "shipper.cli", "cat", "-p", "datameer", "--timezone", "Europe/Berlin",
                        str(log)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    events = {e["user"]["name"]: e for e in map(json.loads, r.stdout.splitlines())}
    assert events["before"]["@timestamp"] == "2026-10-24T23:59:00.000Z"  # what held: plain CEST
    assert events["after"]["@timestamp"] == "2026-10-25T02:10:00.000Z"  # and plain CET
    second = events["second-pass"]
    flagged = any("ambiguous" in tag for tag in second.get("tags") or [])
    assert second["@timestamp"] == "2026-10-25T01:10:00.000Z" or flagged, (
        f"the 02:10 written after 02:59:59 is stamped {second['@timestamp']} (its first pass, an hour before it "
        f"happened), tags {second.get('tags')}")
