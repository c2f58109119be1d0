"""docs/ecs-conventions.md: a record holding a byte that is not UTF-8 (a Latin-1 `jos\\xe9` in a UTF-8
log) is read, the byte as U+FFFD in the fields the product parsers read from it; it is not made a parse
failure whole because orjson refuses invalid UTF-8. Each product parser's JSON sample, with such a byte
in a value, gives the events the same record gives with U+FFFD written in its place."""
from __future__ import annotations

from pathlib import Path

import pytest

from shipper import registry

REPO = Path(__file__).resolve().parents[2]
SAMPLES = {
    "datameer": "config/samples/datameer/useraction.log",
    "databricks": "config/samples/databricks/system_access_audit/audit.json",
    "cloudera_ai": "config/samples/cloudera_ai/user_events.jsonl",
    "puppet_enterprise": "config/samples/puppet_enterprise/activity-api-pages.json",
    "posit_connect": "config/samples/posit_connect/posit-connect.audit.json",
}


def _first_record(name: str) -> bytes:
    line = (REPO / SAMPLES[name]).read_bytes().split(b"\n", 1)[0]
    assert line.startswith(b"{"), line[:40]
    return line


def _without_read_time(events: list[dict]) -> list[dict]:
    return [{**ev, "event": {k: v for k, v in ev["event"].items() if k != "created"}} for ev in events]


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_a_byte_that_is_not_utf8_costs_only_its_character(name: str):
    parser = registry.load("parser", name)()
    line = _first_record(name)
    # A value of the product's own (kept under its namespace): the record's meaning is unchanged.
    bad = b'{"zz_note": "jos\xe9",' + line[1:]
    same = b'{"zz_note": "jos\xef\xbf\xbd",' + line[1:]  # U+FFFD written in UTF-8
    read, expected = parser.parse(bad), parser.parse(same)
    assert expected and not any("_parse_failure" in ev.get("tags", ()) for ev in parser.parse(line))
    assert _without_read_time(read) == _without_read_time(expected)
    assert not any("_parse_failure" in ev.get("tags", ()) for ev in read), read[0].get("error")
