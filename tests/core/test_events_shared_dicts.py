"""EventBuilder never writes into a dict a parser may share between events (memoised `host`, `source`,
`related`…): the rule every plugin relies on (outputs and the pipeline never mutate what a parser shares)."""
from __future__ import annotations

import copy

from shipper.config_base import SourceConfig
from shipper.events import EventBuilder
from shipper.plugin import Parser, RawBatch

SHARED_HOST = {"ip": ["10.0.0.1"]}  # a parser's one host dict for every event of its file (no name)
SHARED_RELATED = {"user": ["alice"]}


class SharingParser(Parser):
    module = "sharing"
    dataset = "sharing.test"

    def parse(self, raw: bytes) -> list[dict]:
        return [{"event": {"kind": "event"}, "host": SHARED_HOST, "related": SHARED_RELATED, "tags": ["t"],
                 "message": raw.decode()}, {"event": {"kind": "event", "id": raw.decode()}, "host": SHARED_HOST}]


def test_shared_dicts_are_not_mutated():
    before = copy.deepcopy((SHARED_HOST, SHARED_RELATED))
    cfg = SourceConfig(name="s", type="file", parser="sharing", tags=["extra"], preserve_original_event=True)
    builder = EventBuilder(cfg, SharingParser(), "agent-host")
    events, ids = builder.build(RawBatch(records=[b"a", b"b"], keys=["k1", "k2"], checkpoint={},
                                         meta={"host": {"os": {"type": "linux"}}}))
    assert (SHARED_HOST, SHARED_RELATED) == before
    assert [e["host"]["name"] for e in events] == ["agent-host"] * 4
    assert all(e["tags"][-1] == "extra" for e in events) and len(set(ids)) == 4
