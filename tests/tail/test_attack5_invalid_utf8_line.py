"""Black-box attack 5: one byte that is not UTF-8 in an audit line (a Latin-1 name from a legacy client, `jos\\xe9`;
`encoding` left at its default utf-8). The README promises bad input is shipped, never dropped; the issue says an
altered event is a failure. Found (deterministic, 2 runs of 2): the whole line becomes a `_parse_failure` (none of
its fields extracted: its user and action are not searchable) with the error "str is not valid UTF-8: surrogates not
allowed" (there is no surrogate in it), and its `event.original` holds U+FFFD where the byte was: the one record of
what the user was called is altered for good. Either the fields are extracted, or the original bytes stay
recoverable (any escape but U+FFFD). Now both: the fields are read with the byte as the text `\\xe9`, the event
is tagged `_invalid_encoding` (docs/ecs-conventions.md)."""
from __future__ import annotations

import json
import time

import pytest

from tests.tail.attack_agent import Agent

pytestmark = pytest.mark.slow


def test_a_line_with_one_invalid_utf8_byte_is_parsed_or_kept_recoverable(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    log = logs / "app.log"
    log.write_bytes(b'{"seq": 0, "user": "jos\xe9"}\n{"seq": 1, "user": "ok"}\n')
    agent = Agent(tmp_path, [log])
    agent.start()
    try:
        assert agent.wait_delivered([1])
        time.sleep(1)
    finally:
        assert agent.stop() == 0
    lines = [json.loads(line) for line in (tmp_path / "out1.jsonl").read_text().splitlines()]
    assert len(lines) == 2, lines  # nothing dropped
    first = lines[0]
    parsed = first.get("generic", {}).get("seq") == 0
    original = (first.get("event") or {}).get("original") or ""
    assert parsed or ("jos" in original and "\ufffd" not in original), first
    assert first["generic"]["user"] == "jos\\xe9" and "_invalid_encoding" in first["tags"], first
    assert "_invalid_encoding" not in lines[1].get("tags", []), lines[1]
