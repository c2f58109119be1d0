"""A record nested deeper than orjson writes (255 levels; it reads 1,024), where the events are
serialised as soon as they are built: in the source's thread for a stdout-only route, and in parse
workers. Brackets are not counted up front there (issue 19: it cost a third of reading a line); the
refused dump enriches the batch again with the check. The record must still be shipped once, flagged
with its text, between its neighbours, and the source must go on."""
from __future__ import annotations

import orjson
import pytest

from tests.nested_records import deep_record, shipped_once_around

DEEP = 300


@pytest.mark.parametrize("workers", [0, 2])
def test_a_record_too_deep_to_write_is_shipped_flagged_in_place(tmp_path, workers):
    deep = deep_record(DEEP)
    r = shipped_once_around(tmp_path, deep, workers)
    assert r.returncode == 0, r.stderr.decode()[-3000:]
    events = [orjson.loads(line) for line in r.stdout.splitlines()]
    assert len(events) == 1501
    flagged = [i for i, e in enumerate(events) if "_parse_failure" in e.get("tags", ())]
    assert flagged == [700], [events[i] for i in flagged]
    assert events[700]["event"]["original"] == deep.decode()
    assert "nesting" in events[700]["error"]["message"]
    assert [e["generic"]["n"] for i, e in enumerate(events) if i != 700] == list(range(1500)), events[:3]
