"""The parser's half of the plugin contract: what a parser is (`Parser`, `ParserOptions`), the raw batch it
maps (`RawBatch`), and what a parsed event becomes on its way out (`serialize_event`, `index_key`).

It imports no config model: a parse worker process loads this, its parser and shipper.api's parser helpers
only, not pydantic and the config models (~60 % of the workers' start, bench/README.md). Sources and outputs
are in shipper.plugin, which re-exports these names; plugins import all of them from `shipper.api`.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, Mapping, Sequence, TypeAlias
from zoneinfo import ZoneInfo

import orjson

# A fragment of a source's persisted state: {key: JSON value, or None to delete the key}.
CheckpointFragment: TypeAlias = dict[str, Any]


@dataclass(slots=True)
class RawBatch:
    """Records a source read, with what is needed to checkpoint them once delivered.

    `checkpoint` is a fragment of the source's persisted state ({key: JSON value, or None to
    delete the key}). It is merged into the state, in batch order, only when every output the
    batch was routed to has acknowledged it.
    """

    records: list[bytes]
    keys: Sequence[str]  # positional identity of each record (stable across restarts)
    checkpoint: CheckpointFragment
    nbytes: int = 0
    meta: dict[str, Any] | None = None  # ECS fields set on every event of the batch
    # Optional per-record tags (e.g. "_line_truncated"), added to the `tags` of that record's events.
    flags: Sequence[tuple[str, ...]] | None = None


@dataclass(frozen=True, slots=True)
class ParserOptions:
    """What a parser is told about the source it parses for (picklable: parse workers get a copy)."""

    timezone: str = "UTC"  # the zone of timestamps written without one (validated by the config)
    source: str = ""  # the source's name, for messages


class Parser(ABC):
    """Maps one raw record to zero or more ECS events. Must not raise on bad input.

    The pipeline still guards every call: an exception becomes a `_parse_failure` event.
    """

    module: ClassVar[str] = ""
    dataset: ClassVar[str] = ""
    # True when event.id is an integer the product hands out in increasing order: the agent then
    # reports gaps in it (shipper.vendor_ids).
    monotonic_ids: ClassVar[bool] = False
    # Known fields of the parser's namespace (`<module>.<dotted name>` → an Elasticsearch type such as
    # "keyword", "long", "date", "ip"), typed by the index template; the rest are kept unindexed.
    vendor_field_types: ClassVar[Mapping[str, str]] = {}

    def __init__(self, options: ParserOptions | Mapping[str, Any] | None = None):
        if options is None:
            options = ParserOptions()
        elif not isinstance(options, ParserOptions):
            options = ParserOptions(**options)  # an unknown key is a TypeError naming it
        self.options: ParserOptions = options
        self.zone = ZoneInfo(options.timezone or "UTC")

    @abstractmethod
    def parse(self, raw: bytes) -> list[dict[str, Any]]:
        """The record's events (usually one). Bad input gives a `failure_event`, never an exception."""

    def parse_batch(self, raws: list[bytes]) -> list[list[dict[str, Any]]]:
        """parse() over a batch; a parser may override it to share work between records."""
        parse = self.parse
        return [parse(r) for r in raws]


def serialize_event(event: dict[str, Any]) -> bytes:
    """An event's NDJSON line: what stdout writes and Elasticsearch's bulk body carries."""
    return orjson.dumps(event, option=orjson.OPT_APPEND_NEWLINE, default=str)


def index_key(event: dict[str, Any]) -> tuple:
    """What an index name may depend on: (event.dataset, event.module, the day of @timestamp), raw."""
    ev = event.get("event")
    if isinstance(ev, dict):
        ds, module = ev.get("dataset"), ev.get("module")
    else:
        ds = module = None
    ts = event.get("@timestamp")
    return ds, module, ts[:10] if isinstance(ts, str) else None
