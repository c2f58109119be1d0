"""The contract between the core and plugins: sources read, parsers map, outputs deliver.

A plugin is a class registered under an entry point group (`shipper.sources`, `shipper.parsers`,
`shipper.outputs`). Each class names the pydantic model of its config block in `Config`.
"""
from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Iterator, Mapping, Sequence
from zoneinfo import ZoneInfo

import orjson

from shipper.config_base import OutputConfig, SourceConfig


@dataclass(slots=True)
class RawBatch:
    """Records a source read, with what is needed to checkpoint them once delivered.

    `checkpoint` is a fragment of the source's persisted state ({key: JSON value, or None to
    delete the key}). It is merged into the state, in batch order, only when every output the
    batch was routed to has acknowledged it.
    """

    records: list[bytes]
    keys: list[str]  # positional identity of each record (stable across restarts)
    checkpoint: dict[str, Any]
    nbytes: int = 0
    meta: dict[str, Any] | None = None  # ECS fields set on every event of the batch
    # Optional per-record tags (e.g. "_line_truncated"), added to the `tags` of that record's events.
    flags: list[tuple[str, ...]] | None = None


@dataclass(slots=True)
class Batch:
    """Parsed ECS events on their way to outputs.

    Parsed in a worker process (a source's `parse_workers`), a batch arrives pre-serialised: `lines`
    holds its events as NDJSON (one `orjson.dumps(event, option=OPT_APPEND_NEWLINE, default=str)`
    line per event), `index_keys` each event's `index_key`, and `events` is a SerializedEvents that
    decodes them only for an output that asks for dicts. Outputs that can write bytes use `lines`.
    """

    source: str
    tag: str
    events: Sequence[dict]
    ids: Sequence[str]  # stable id per event (hash of namespace + vendor id, or of source + position)
    nbytes: int
    seq: int = 0
    pending: int = 0  # outputs that still have to acknowledge
    lines: bytes | None = None
    index_keys: list[tuple] | None = None


def serialize_event(event: dict) -> bytes:
    """An event's NDJSON line: what stdout writes and Elasticsearch's bulk body carries."""
    return orjson.dumps(event, option=orjson.OPT_APPEND_NEWLINE, default=str)


def index_key(event: dict) -> tuple:
    """What an index name may depend on: (event.dataset, event.module, the day of @timestamp), raw."""
    ev = event.get("event")
    if isinstance(ev, dict):
        ds, module = ev.get("dataset"), ev.get("module")
    else:
        ds = module = None
    ts = event.get("@timestamp")
    return ds, module, ts[:10] if isinstance(ts, str) else None


class SerializedEvents(Sequence[dict]):
    """A batch's events kept as NDJSON; decoded (once, all together) only when an output reads them.

    orjson escapes every control character inside strings, so a newline byte only ever ends a line.
    """

    __slots__ = ("lines", "_n", "_events")

    def __init__(self, lines: bytes, n: int):
        self.lines = lines
        self._n = n
        self._events: list[dict] | None = None

    def _all(self) -> list[dict]:
        if self._events is None:
            body = self.lines[:-1].replace(b"\n", b",") if self.lines else b""
            self._events = orjson.loads(b"[" + body + b"]")
        return self._events

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, i):
        return self._all()[i]

    def __iter__(self) -> Iterator[dict]:
        return iter(self._all())


class Stopping(Exception):
    """Raised inside plugins when the agent stops before work could finish."""


class EndRun(Exception):
    """The agent cannot go on in this process and ends with `exit_code` (what was not delivered
    is not acknowledged, so it is read again next start). `str()` is the one line for the operator;
    empty for an ending that is no error (stdout's reader went away: exit 141, quietly, like cat)."""

    def __init__(self, message: str, exit_code: int = 1):
        super().__init__(message)
        self.exit_code = exit_code


@dataclass
class SourceContext:
    """What the pipeline gives a source."""

    name: str
    emit: Callable[[RawBatch], None]  # blocks while outputs are full (backpressure)
    stop: threading.Event
    once: bool  # read what is available now, then return from run()
    state: dict[str, Any]  # the persisted checkpoint state as loaded at start
    state_dir: str
    logger: Any = None
    extra: dict[str, Any] = field(default_factory=dict)


class Source(ABC):
    Config: ClassVar[type[SourceConfig]] = SourceConfig

    def __init__(self, config: SourceConfig, ctx: SourceContext):
        self.config = config
        self.ctx = ctx

    @abstractmethod
    def run(self) -> None:
        """Read until ctx.stop is set (or, with ctx.once, until nothing more is available)."""

    def describe(self) -> list[str]:
        """Lines for `shipper check`: what this source would read now."""
        return []

    def status(self) -> dict[str, Any]:
        """For `shipper status` and metrics: position, lag and the like."""
        return {}

    def last_error(self) -> dict[str, Any] | None:
        """The source's last read failure for /health and `shipper status` (shipper.failures.SourceFailures.report:
        kind, message, since, failing); None if it never failed or does not say."""
        return None

    def close(self) -> None:
        pass


class Parser(ABC):
    """Maps one raw record to zero or more ECS events. Must not raise on bad input.

    The pipeline still guards every call: an exception becomes a `_parse_failure` event.
    """

    module: ClassVar[str] = ""
    dataset: ClassVar[str] = ""
    # True when event.id is an integer the product hands out in increasing order: the agent then
    # reports gaps in it (shipper.vendor_ids).
    monotonic_ids: ClassVar[bool] = False

    def __init__(self, options: Mapping[str, Any] | None = None):
        self.options = dict(options or {})
        # The zone of timestamps written without one (the source's `timezone`), validated by the config.
        self.zone = ZoneInfo(self.options.get("timezone") or "UTC")

    @abstractmethod
    def parse(self, raw: bytes) -> list[dict]:
        ...

    def parse_batch(self, raws: list[bytes]) -> list[list[dict]]:
        parse = self.parse
        return [parse(r) for r in raws]


class Output(ABC):
    Config: ClassVar[type[OutputConfig]] = OutputConfig

    def __init__(self, config: OutputConfig, ctx: "OutputContext"):
        self.config = config
        self.ctx = ctx

    def start(self) -> None:
        pass

    @abstractmethod
    def send(self, batch: Batch) -> None:
        """Deliver the batch; return only once it is stored. Retry inside; raise Stopping if
        ctx.stop is set before it could be delivered (the batch is then not acknowledged)."""

    def describe(self) -> str:
        return self.config.type

    def read_back(self, since: str | None = None) -> Iterator[tuple[str, dict]]:
        """(where, event) for what this output stored since an ISO time, for `shipper verify
        --output`: outputs that can read their store back (Elasticsearch) implement it."""
        raise NotImplementedError(f"output type {self.config.type!r} cannot read back what it stored")

    def close(self) -> None:
        pass


@dataclass
class OutputContext:
    name: str
    stop: threading.Event
    state_dir: str
    logger: Any = None
    once: bool = False  # `run --once`: give up on a failure after bounded retries (EndRun), never wait forever
