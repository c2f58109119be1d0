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
ambiguous. Fixed: every parser reading zone-less times in the source's zone tags an event whose time lies in an
hour the zone's clock repeats or skips `_ambiguous_local_time` (shipper.ecs.local_time_in_doubt); its
@timestamp reads the time as the first pass. Telling the passes apart by the file's order would need a parser
that keeps state across records, which parse workers (records of one file on several processes) do not allow."""
from __future__ import annotations

import json
import subprocess
import sys
from zoneinfo import ZoneInfo

import orjson
import pytest

from shipper.api import zone_always_utc
from shipper.ecs import AMBIGUOUS_LOCAL_TIME, local_time_in_doubt

LINES = [  # in the order Datameer wrote them, 25 October 2026, Europe/Berlin
    ("01:59:00", "before"),
    ("02:30:00", "first-pass"),
    ("02:59:59", "first-pass-last"),
    ("02:10:00", "second-pass"),  # the clock fell back at 03:00 CEST
    ("03:10:00", "after"),
]


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


@pytest.mark.parametrize("text,zone,doubt", [
    ("2026-10-25 02:10:00", "Europe/Berlin", True),  # repeated (fall back at 03:00 CEST)
    ("2026-10-25T02:59:59", "Europe/Berlin", True),
    ("2026-10-25 01:59:59", "Europe/Berlin", False),
    ("2026-10-25 03:00:00", "Europe/Berlin", False),
    ("2026-03-29 02:30:00", "Europe/Berlin", True),  # skipped (spring forward at 02:00 CET): never on that clock
    ("2026-03-29 03:30:00", "Europe/Berlin", False),
    ("2026-11-01 01:30:00", "America/New_York", True),
    ("2026-04-05 01:45:00", "Australia/Lord_Howe", True),  # a half-hour change (02:00 → 01:30)
    ("2026-04-05 02:10:00", "Australia/Lord_Howe", False),
    ("2026-10-25 02:10:00", "UTC", False),
    ("2026-10-25 02:10:00", "Asia/Tokyo", False),  # no DST
    ("not a time at all", "Europe/Berlin", False),
    ("2026-13-45 02:10:00", "Europe/Berlin", False),
])
def test_local_time_in_doubt(text, zone, doubt):
    assert local_time_in_doubt(text, ZoneInfo(zone)) is doubt



@pytest.mark.parametrize("zone,always", [
    ("UTC", True), ("Etc/UTC", True), ("Etc/GMT", True), ("Etc/Zulu", True),
    ("Europe/London", False), ("Africa/Abidjan", False),  # GMT now, not always (LMT; BST)
    ("Africa/Monrovia", False), ("Atlantic/Reykjavik", False),  # at UTC+0 in 2000, not before 1972 / 1968
])
def test_a_zone_always_at_utc_has_no_hour_in_doubt(zone, always):
    """Cloudera AI asks local_time_in_doubt only of a zone zone_always_utc denies (issue 19, two calls a record):
    that skip is right only if no hour of such a zone is ever in doubt, every DST change of the others found."""
    z = ZoneInfo(zone)
    assert zone_always_utc(z) is always
    hours = [f"{y}-{m:02d}-{d:02d} {h:02d}:30:00" for y in (1916, 1945, 1971, 1996, 2026) for m in (3, 4, 9, 10, 11)
             for d in range(1, 32, 3) for h in range(24)]
    in_doubt = [t for t in hours if local_time_in_doubt(t, z)]
    if always:
        assert not in_doubt
    if zone == "Europe/London":
        assert in_doubt  # the sample reaches DST changes: an empty list above says something

def test_every_parser_reading_zone_less_times_tags_the_repeated_hour():
    """Posit Connect's `time`, Cloudera AI's `created_at`, Puppet Enterprise's CSV Submit Time: read in the
    source's zone like Datameer's; a time of the repeated hour is tagged, the hour after it is not."""
    from shipper_plugins.parsers.cloudera_ai import ClouderaAIParser
    from shipper_plugins.parsers.posit_connect import PositConnectParser
    from shipper_plugins.parsers.puppet_enterprise import PuppetEnterpriseParser
    from tests.parsers.test_cloudera_ai import row

    zone = {"timezone": "Europe/Berlin"}
    posit = 'level=info type=audit action=user_login entry_id=3 actor_id=7 actor_guid=u-7 msg=x time=2026-10-25T{}'
    puppet = {"Submit Time": "2026-10-25 {}", "Type": "create_node", "What": "Create Node", "Who": "kai",
              "Message": "Create Node", "IP": "192.0.2.1"}
    for hour, tagged in (("02:10:00", True), ("03:10:00", False)):
        events = [*PositConnectParser(zone).parse(posit.format(hour + ".000").encode()),
                  *ClouderaAIParser(zone).parse(row(created_at=f"2026-10-25 {hour}")),
                  *PuppetEnterpriseParser(zone).parse(orjson.dumps({**puppet, "Submit Time": f"2026-10-25 {hour}"}))]
        assert len(events) == 3
        for ev in events:
            assert ev["event"].get("timezone") == "Europe/Berlin", ev
            assert (AMBIGUOUS_LOCAL_TIME in (ev.get("tags") or [])) is tagged, (hour, ev.get("tags"), ev["@timestamp"])
