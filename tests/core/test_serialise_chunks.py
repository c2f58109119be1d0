"""shipper.parse_workers.serialise works a batch CHUNK records at a time (issue 19: the events of a
thousand records leave the CPU's caches before they are written). Its result must be what the batch
gives enriched whole, as the dict path does (EventBuilder.enrich over every record, each event dumped):
the same lines, the same ids (a chunk's id parts name records by their index in the batch, whatever
the records before it gave), the same index keys and counts."""
from __future__ import annotations

import orjson
from hypothesis import given, settings, strategies as st

from shipper import ecs, parse_workers
from shipper.api import PARSE_FAILURE, UNMAPPED_ACTION
from shipper.config_base import SourceConfig
from shipper.events import EventBuilder
from shipper.plugin import Parser, RawBatch, index_key, serialize_event

DEEP = 300  # levels: deeper than orjson writes (255)


class ScriptedParser(Parser):
    """A record says what it gives: {"events": [[vendor id or null, tag or null], ...], "deep": bool} (its
    events nested too deep to write; the record holds that many brackets); a record that is not JSON makes
    parse_batch fail (each record of its batch is then parsed alone, that one a parser crash)."""

    module, dataset = "acme", "acme.audit"

    def parse(self, raw: bytes) -> list[dict]:
        doc = orjson.loads(raw)
        out = []
        for i, (vendor_id, tag) in enumerate(doc["events"]):
            ev = {"event": {"module": self.module, "dataset": self.dataset}, "@timestamp": f"2026-01-0{1 + i % 2}T00:00:00Z"}
            if vendor_id is not None:
                ev["event"]["id"] = vendor_id
            if tag is not None:
                ev["tags"] = [tag]
            if doc.get("deep"):
                nested: list = []
                for _ in range(DEEP):
                    nested = [nested]
                ev["payload"] = nested
            out.append(ev)
        return out


event = st.tuples(st.one_of(st.none(), st.sampled_from(["v1", "v2", "v3"])),
                  st.one_of(st.none(), st.sampled_from([PARSE_FAILURE, UNMAPPED_ACTION])))
record = st.one_of(st.fixed_dictionaries({"events": st.lists(event, max_size=3)}, optional={"deep": st.booleans()}),
                   st.just("not json"))


def _raw(r: dict | str) -> bytes:
    if isinstance(r, str):
        return r.encode()
    return orjson.dumps({**r, "brackets": "[" * DEEP} if r.get("deep") else r)


@settings(max_examples=300, deadline=None)
@given(records=st.lists(record, max_size=12), chunk=st.integers(1, 5), flagged=st.booleans(),
       preserve=st.booleans())
def test_serialised_in_chunks_is_the_batch_enriched_whole(records, chunk, flagged, preserve):
    raws = [_raw(r) for r in records]
    keys = [f"k{i}" for i in range(len(raws))]
    flags = [("_line_truncated",) if i % 3 == 1 else () for i in range(len(raws))] if flagged else None
    raw = RawBatch(raws, keys, {}, sum(map(len, raws)), {"log": {"file": {"path": "/var/log/a.log"}}}, flags)
    cfg = SourceConfig(name="s", type="file", parser="acme", preserve_original_event=preserve)
    builder = EventBuilder(cfg, ScriptedParser(), "agent-host")

    was_chunk, was_now = parse_workers.CHUNK, ecs.now_iso
    parse_workers.CHUNK, ecs.now_iso = chunk, lambda: "2026-12-05T00:00:00.000Z"  # a failure's read time
    try:
        events, parts, failures, unmapped = builder.enrich(raw)  # the definition: the whole batch at once
        lines, n, got_parts, index_keys, got_failures, got_unmapped = parse_workers.serialise(builder, raw, True)
    finally:
        parse_workers.CHUNK, ecs.now_iso = was_chunk, was_now

    assert lines == b"".join(serialize_event(ev) for ev in events)
    assert n == len(events) == len(got_parts)
    assert list(builder.ids(got_parts, keys)) == list(builder.ids(parts, keys))
    assert index_keys == [index_key(ev) for ev in events]
    assert (got_failures, got_unmapped) == (failures, unmapped)
