"""Black-box attack 30 (exam30a, issue 13: bad input never stops the agent): a JSON record nested just under the
depth orjson writes. tests/core/test_deep_nesting_serialised.py ships a record 300 levels deep flagged in place;
one nested 254 or 255 levels (an object holding 253 or 254 arrays) is read by the parser, but its event holds it
one level deeper (`generic.<key>`), past the 255 levels orjson writes, and the check that catches the deeper
record lets it through.

Found (by hand, a differential run of `parse_workers: 0` against `2` over 60,000 lines of odd shapes; 2 of 2
again with the daemon, and with `run --once`): the dump raises `TypeError: Recursion limit reached`, the source
ends (`source stopped with an error`), the whole batch around the record is not shipped, and nothing after it
either; every restart stops at the same line, so that file ships nothing more, for good. Same with
`parse_workers` 0, 2 and auto. 252 or 255 arrays (a record 253 or 256 deep) are shipped."""
from __future__ import annotations

import orjson
import pytest

from tests.nested_records import deep_record, shipped_once_around


@pytest.mark.parametrize("workers", [0, 2])
@pytest.mark.parametrize("arrays", [252, 253, 254])
def test_a_record_nested_at_the_writers_limit_is_shipped_and_the_source_goes_on(tmp_path, workers, arrays):
    deep = deep_record(arrays)
    r = shipped_once_around(tmp_path, deep, workers)
    err = r.stderr.decode(errors="replace")
    assert "source stopped with an error" not in err, err[-1500:]
    assert r.returncode == 0, err[-1500:]
    events = [orjson.loads(line) for line in r.stdout.splitlines()]
    assert len(events) == 1501, f"{len(events)} of 1501 events shipped"
    assert [e["generic"]["n"] for i, e in enumerate(events) if i != 700] == list(range(1500))
    assert events[700].get("generic", {}).get("user") == "deep" or "deep" in events[700]["event"]["original"]
