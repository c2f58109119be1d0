"""What every event gets on its way from a parser to the outputs: host, agent, batch meta, tags,
failure counts and its stable id. Runs in the source thread, or in a parse worker process."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from operator import add, methodcaller
from typing import TYPE_CHECKING

import orjson

from shipper import __version__, metrics
from shipper.ecs import PARSE_FAILURE, UNMAPPED_ACTION, failure_event, original_text
from shipper.ids import LazyIds
from shipper.parser import Parser, RawBatch, serialize_event

if TYPE_CHECKING:
    from shipper.config_base import SourceConfig

MAX_DEPTH = 255  # levels of nesting orjson writes (every output serialises with it)
# Brackets in a record past which its events are dumped once to see whether orjson writes them. Not MAX_DEPTH: an event
# holds a record's content deeper than the record itself (a JSON record's fields under `generic`, a parser's own
# sub-objects), so a record 254 levels deep made an event 256 deep that no output could write, and its source ended
# at every restart (exam30a). Half the limit leaves a parser 127 levels of its own; a trial dump is ~1 µs.
TRIAL_BRACKETS = MAX_DEPTH // 2
# enrich's check_depth after a dump of the batch's events was refused: every record's events tried, whatever its
# brackets (a value orjson does not write, an integer past 64 bits, ended the source as a deep record did: exam30a).
EVERY_RECORD = 2
_COUNT_SQUARE, _COUNT_CURLY = methodcaller("count", b"["), methodcaller("count", b"{")
_ONE = frozenset((1,))


@dataclass(frozen=True, slots=True)
class EventSettings:
    """What EventBuilder reads of a source's config: a parse worker is handed these, not the SourceConfig (a
    worker that rebuilt one imported pydantic and the config models: ~60 % of its start, bench/README.md)."""

    name: str
    tags: tuple[str, ...] = ()
    preserve_original_event: bool = False
    id_namespace: str | None = None

    @classmethod
    def of(cls, cfg: SourceConfig) -> EventSettings:
        return cls(cfg.name, tuple(cfg.tags), cfg.preserve_original_event, cfg.id_namespace)


class EventBuilder:
    """Runs a source's parser over a raw batch and adds what every event carries."""

    def __init__(self, cfg: SourceConfig | EventSettings, parser: Parser, host_name: str,
                 counts: metrics.SourceCounts | None = None):
        self.parser = parser
        self.source = cfg.name
        self.host = host_name
        self._host = {"name": host_name}  # shared by the events that carry no host of their own
        self.agent = {"type": "shipper", "version": __version__}
        self.extra_tags = list(cfg.tags)
        self.preserve_original = cfg.preserve_original_event
        self.id_namespace = cfg.id_namespace or cfg.name
        # The source runner's counts (a parse worker process's builder counts nothing the agent reads)
        self.counts = metrics.SourceCounts(cfg.name) if counts is None else counts
        self._m_read = self.counts.read
        self._m_bytes = self.counts.bytes_read
        self._m_fail = self.counts.parse_failures
        self._m_unmapped = self.counts.unmapped_actions

    def _parse_guarded(self, raws: list[bytes], check_depth: int = True) -> list[list[dict]]:
        try:
            parsed = self.parser.parse_batch(raws)
            return self._writable(raws, parsed, check_depth == EVERY_RECORD) if check_depth else parsed
        except Exception:
            out = []
            for raw in raws:
                try:
                    out.append(self.parser.parse(raw))
                except Exception as e:  # a parser bug ships the record flagged, never crashes
                    out.append([failure_event(original_text(raw), f"parser {type(e).__name__}: {e}", self.parser.module, self.parser.dataset)])
            return self._writable(raws, out, check_depth == EVERY_RECORD) if check_depth else out

    def _writable(self, raws: list[bytes], parsed: list[list[dict]], every: bool = False) -> list[list[dict]]:
        """A record whose events nest deeper than orjson writes (255 levels; it reads 1,024) would be
        refused by every output at each retry, wedging its source: it is shipped as a parse failure
        with its text instead. Only a record with many brackets can nest so deep: two counts a record
        (in C, over the batch: the usual batch has no such record), a trial dump only for those; `every`
        record's once a dump of the batch was refused (EVERY_RECORD)."""
        if not every and max(map(add, map(_COUNT_SQUARE, raws), map(_COUNT_CURLY, raws)), default=0) <= TRIAL_BRACKETS:
            return parsed
        for i, raw in enumerate(raws):
            if every or raw.count(b"[") + raw.count(b"{") > TRIAL_BRACKETS:
                try:
                    for event in parsed[i]:  # each as the outputs write it (the list would be one level deeper)
                        serialize_event(event)
                except orjson.JSONEncodeError as e:
                    deep = f" (at most {MAX_DEPTH} levels of nesting)" if "ecursion" in str(e) else ""
                    parsed = list(parsed)
                    parsed[i] = [failure_event(original_text(raw), f"not shipped as parsed: {e}{deep}",
                                               self.parser.module, self.parser.dataset)]
        return parsed

    def enrich(self, raw: RawBatch, check_depth: int = True, start: int = 0,
               stop: int | None = None, unparsed: str | None = None) -> tuple[list[dict], list, int, int]:
        """Parse a raw batch (its records[start:stop]) and add host, agent, the source's meta and tags: (events,
        id parts, parse failures, unmapped actions). No metrics and no record keys, so a parse worker
        process runs exactly this code (shipper.parse_workers) and its events are the same bytes.
        `check_depth=False`: the caller serialises the events at once and enriches again with
        EVERY_RECORD should orjson refuse one (shipper.parse_workers.serialise): counting every record's
        brackets cost a third of what reading it does. `unparsed`: the records are not given to the parser but
        shipped as parse failures with this reason (a record whose parse ended its parse worker: shipper.parse_workers).

        The hot path of every event: one pass, shared dicts for what every event carries the same
        (agent, host; outputs never mutate events), no tuple per event when each record gave one.
        A parser's sub-dicts may be shared between events (memos): they are replaced, never changed.
        Id parts, per event: the vendor id, or None (the only event of its record), or
        (record index, index in the record); LazyIds turns them into ids with the record keys. A record's
        index is its index in the batch, whatever `start`.
        """
        records = raw.records if start == 0 and stop is None else raw.records[start:stop]
        if unparsed is None:
            parsed = self._parse_guarded(records, check_depth)
        else:
            parsed = [[failure_event(original_text(r), unparsed, self.parser.module, self.parser.dataset)] for r in records]
        meta_items = list(raw.meta.items()) if raw.meta else ()
        flags = raw.flags
        agent = self.agent
        host_name = self.host
        host_default = self._host
        extra_tags = self.extra_tags
        preserve = self.preserve_original
        one_each = _ONE.issuperset(map(len, parsed))  # each record gave one event (a generator cost ~550 instructions a record)
        events: list[dict] = [evs[0] for evs in parsed] if one_each else [ev for evs in parsed for ev in evs]
        id_parts: list = []
        append_id = id_parts.append
        failures = unmapped = 0
        rec_i, j, left = start - 1, 0, 0  # record of the current event, its index in the record, events left in it
        for ev in events:
            if one_each:
                rec_i += 1
            else:
                while not left:
                    rec_i += 1
                    left = len(parsed[rec_i - start])
                    j = 0
            host = ev.get("host")
            if host is None:
                ev["host"] = host_default
            elif "name" not in host:  # a new dict: the parser's may be shared with other events
                ev["host"] = {**host, "name": host_name}
            ev["agent"] = agent
            for k, v in meta_items:
                cur = ev.get(k)
                ev[k] = {**v, **cur} if isinstance(cur, dict) and isinstance(v, dict) else v
            tags = ev.get("tags")
            rec_flags = flags[rec_i] if flags else ()
            if tags or rec_flags or extra_tags:
                tags = _merge_tags(tags, rec_flags, extra_tags)
                ev["tags"] = tags
                if PARSE_FAILURE in tags:
                    failures += 1
                if UNMAPPED_ACTION in tags:
                    unmapped += 1
            if preserve and "original" not in ev["event"]:
                ev["event"] = {**ev["event"], "original": original_text(raw.records[rec_i])}
            vendor_id = ev["event"].get("id")
            if one_each:
                append_id(vendor_id or None)
            else:
                append_id(vendor_id or (rec_i, j))
                j += 1
                left -= 1
        return events, id_parts, failures, unmapped

    def count(self, events: int, nbytes: int, failures: int, unmapped: int) -> None:
        self._m_read.inc(events)
        self._m_bytes.inc(nbytes)
        if failures:
            self._m_fail.inc(failures)
        if unmapped:
            self._m_unmapped.inc(unmapped)

    def ids(self, id_parts: list, keys: Sequence[str]) -> "LazyIds":
        return LazyIds(id_parts, self.source, self.id_namespace, keys)

    def build(self, raw: RawBatch) -> tuple[list[dict], LazyIds]:
        """The batch's events, enriched (see enrich), counted, and their ids."""
        events, id_parts, failures, unmapped = self.enrich(raw)
        self.count(len(events), raw.nbytes, failures, unmapped)
        return events, self.ids(id_parts, raw.keys)


def _merge_tags(tags: list | None, *more) -> list:
    out = list(tags or ())
    for group in more:
        for t in group:
            if t not in out:
                out.append(t)
    return out
