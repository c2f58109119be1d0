"""The contract between the core and plugins: sources read, parsers map, outputs deliver.

A plugin is a class registered under an entry point group (`shipper.sources`, `shipper.parsers`,
`shipper.outputs`). Each source and output class names the pydantic model of its config block in
`Config`. Plugins import all of this from `shipper.api` (the public surface); this module is where
it is defined, but for the parser's half (shipper.parser: `Parser`, `ParserOptions`, `RawBatch`,
`serialize_event`, `index_key`, re-exported here), which a parse worker loads without the config models.
docs/writing-plugins.md is the guide.

Events are plain dicts. A dict reachable from more than one event (a parser's memoised sub-dict,
the shared `agent` and `host`) is never mutated after it is handed out: whoever needs a different
value puts a new dict in its place (`ev["host"] = {**host, "name": ...}`). Outputs never mutate
events at all.
"""
from __future__ import annotations

import logging
import os
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Iterator, Mapping, Sequence

import orjson

from shipper.config_base import OutputConfig, SourceConfig
from shipper.parser import (  # noqa: F401  (the parser's half: the core's modules import it from here too)
    CheckpointFragment,
    Parser,
    ParserOptions,
    RawBatch,
    index_key,
    serialize_event,
)


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
    events: Sequence[dict[str, Any]]
    ids: Sequence[str]  # stable id per event (hash of namespace + vendor id, or of source + position)
    nbytes: int
    pending: int = 0  # outputs that still have to acknowledge
    lines: bytes | None = None
    index_keys: list[tuple] | None = None


def lines_with_ids(batch: Batch, field: str) -> tuple[bytes, int]:
    """The batch's events as NDJSON, as `serialize_event` writes them, each with its stable id
    (`batch.ids`) added at the top level under `field`, and how many events were left without it.

    For an output whose readers want the id in the record (`id_field`): the event dicts are not
    changed, and `batch.lines` are not decoded, only the rare line that mentions `field` (to see
    whether the event has such a top-level field of its own). An event that has one keeps it: it is
    never overwritten, and counted in the second value (say it once; the id is not in that record).
    """
    key = orjson.dumps(field) + b":"
    lines = batch.lines.split(b"\n")[:-1] if batch.lines is not None else [serialize_event(ev)[:-1] for ev in batch.events]
    out: list[bytes] = []
    left = 0
    for line, id_ in zip(lines, batch.ids):
        if key in line and field in orjson.loads(line):
            out.append(line + b"\n")
            left += 1
        else:  # `{...}` → `{...,"field":"id"}`: the id's hex needs no escaping
            out.append(b"".join((line[:-1], b"," if len(line) > 2 else b"", key, b'"', id_.encode(), b'"}\n')))
    return b"".join(out), left


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


def batch_part(batch: Batch, keep: list[int]) -> Batch:
    """The batch's events at `keep` (an output has the others), serialised lines and index keys too."""
    ids = [batch.ids[i] for i in keep]
    nbytes = batch.nbytes * len(keep) // max(1, len(batch.ids))
    if batch.lines is not None:
        lines = batch.lines.split(b"\n")
        kept = b"".join(lines[i] + b"\n" for i in keep)
        index_keys = [batch.index_keys[i] for i in keep] if batch.index_keys is not None else None
        return Batch(batch.source, batch.tag, SerializedEvents(kept, len(keep)), ids, nbytes, lines=kept,
                     index_keys=index_keys)
    return Batch(batch.source, batch.tag, [batch.events[i] for i in keep], ids, nbytes)


class Stopping(Exception):
    """Raised inside plugins when the agent stops before work could finish."""


class EndRun(Exception):
    """The agent cannot go on in this process and ends with `exit_code` (what was not delivered
    is not acknowledged, so it is read again next start). `str()` is the one line for the operator;
    empty for an ending that is no error (stdout's reader went away: exit 141, like cat, with no error; the output
    itself warns once of the lines its reader had of a batch not acknowledged, written again at the next start)."""

    def __init__(self, message: str, exit_code: int = 1):
        super().__init__(message)
        self.exit_code = exit_code


@dataclass
class SourceContext:
    """What the pipeline gives a source (`self.ctx`).

    `name`: the source's configured name (keys its checkpoint, metrics and, by default, its events'
    stable ids). `emit(raw_batch)`: hands a RawBatch on; blocks while the outputs are full. `stop`:
    set when the source must return from run() (a WakingEvent in the agent, add_waker() to be woken
    from a wait of your own). `once`: `shipper run --once`: read what is there now, then return.
    `state`: the saved state at start, every delivered batch's checkpoint fragment merged (empty under
    `shipper check`). `state_dir`: the agent's state folder. `logger`: this source's logger. `base_dir`:
    the config file's folder, for relative paths or globs the source resolves itself. `lost(what,
    nbytes)`: data deleted or cut before it could be read (nbytes 0 if unknown), named in the next
    attestation. `vendor_gaps(gaps, numbering)`: gaps (first, last) in a numbering of the product's
    the source watches itself (VendorIdGaps.due), warned, counted and attested. `note(fragment)`: saves
    a state fragment at once, not on delivery (what a batch held, for a loss to be named next run).
    `looked()`: a source with `looks_first` says it has taken its first look (Source.looks_first).
    `saved(key)`: the value of `key` in the source's checkpoint as delivered and saved now.
    """

    name: str  # the source's configured name (keys its checkpoint and metrics)
    emit: Callable[[RawBatch], None]  # blocks while outputs are full (backpressure)
    stop: threading.Event
    once: bool  # read what is available now, then return from run()
    state: dict[str, Any]  # the persisted checkpoint state as loaded at start (every fragment merged)
    state_dir: str
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("shipper.source"))
    base_dir: str = "."  # the config file's folder: relative paths a source reads (globs) are taken from here
    # A loss the source saw (what: a file's path, a blob's name; bytes, 0 if unknown), named in the
    # next attestation with integrity on; the source counts it in shipper_losses itself.
    lost: Callable[[str, int], None] = field(default=lambda what, nbytes: None)
    # Gaps (first, last) in a numbering of the product's the source watches itself (shipper.vendor_ids),
    # due for reporting, and what that numbering is ("service rbac commit offsets"): warned, counted in
    # shipper_vendor_id_gaps and listed in the next attestation, like the parser's ids.
    vendor_gaps: Callable[[list[tuple[int, int]], str], None] = field(default=lambda gaps, numbering: None)
    # Saves a fragment of the source's state at once, not when a batch is delivered: what a source read
    # and handed on, so that the next run can name it lost if the product deleted it before it was read
    # again (a batch's checkpoint deletes the note once delivered). Blocks while the store fails.
    note: Callable[[CheckpointFragment], None] = field(default=lambda fragment: None)
    # A source with `looks_first` calls it from run() once it has taken its first look (before its
    # first emit): the agent says it started (READY=1 to systemd) only after every such source has.
    looked: Callable[[], None] = field(default=lambda: None)
    # The value of a key of the source's checkpoint as saved now: every delivered batch's fragment merged,
    # what a restart (a reload's, the next start's) reads from; None when it was never saved or was deleted.
    # A source keeps what it could not read again (a deleted file's descriptor) until what it read of it is
    # saved. None here (outside the agent: tests, `shipper check`): what is emitted counts as saved.
    saved: Callable[[str], Any] | None = None


@dataclass(frozen=True, slots=True)
class SavedPosition:
    """Where a source's saved state says it stands in one file (`shipper status`, daemon or not)."""

    key: str  # the state key it is saved under
    path: str  # the file's name then
    offset: int  # bytes of it read and delivered
    ino: int | None = None  # its inode then: another file at `path` now means it was rotated
    size: int | None = None  # its size then, when known (the bytes after `offset` a stop could not save are named)

    def lag(self, now: os.stat_result) -> int | None:
        """Bytes of the file at `path` (`now`: its stat) after this position; None when `path` holds
        another file now (rotated) or one shorter than the position (truncated)."""
        if self.ino is not None and self.ino != now.st_ino or now.st_size < self.offset:
            return None
        return now.st_size - self.offset


def saved_value_line(key: str, value: Any) -> str:
    """One saved state key and its value, shortened, as `shipper status` shows it."""
    text = orjson.dumps(value).decode()
    return f"saved position ({key}): {text if len(text) <= 100 else text[:97] + '...'}"


class Source(ABC):
    """Reads a product's audit trail and hands its records on (docs/writing-plugins.md, Sources).

    `Source(config, ctx)`: `config` is the validated block (an instance of the class's `Config`, a
    SourceConfig subclass), `ctx` a SourceContext; open nothing here (`shipper check` builds sources
    only to describe them). `run()` reads until `ctx.stop` is set (with `ctx.once`: until nothing more
    is there) and hands `RawBatch`es to `ctx.emit`; a batch's checkpoint is saved once every output has
    it. To give up (under --once, a server still unreachable after a few attempts) raise `EndRun(reason)`
    from run(): one error line naming the source, exit 1; any other exception is logged as a bug. Class
    attributes: `Config`, `rereads` (False: records pushed to it cannot be read again), `reports_vendor_gaps`,
    `looks_first` (run() calls ctx.looked() once it has looked: the agent says `started` after that),
    `descriptors_kept` (the descriptors a running instance keeps open: the config is refused beyond the limit;
    `descriptors_for(config, base_dir)` when that depends on the config).
    The other methods are optional.
    """

    Config: ClassVar[type[SourceConfig]] = SourceConfig
    # True when the source watches a numbering of the product's itself and reports its gaps through
    # ctx.vendor_gaps: attestations then always carry `vendor_id_gaps` (also when there are none).
    reports_vendor_gaps: ClassVar[bool] = False
    # False for a source that cannot read a record again (records pushed to it: a socket, a webhook).
    # Batches a reload takes back or a stop leaves undelivered are then not read again from the
    # checkpoint: the core names them as a loss (shipper_losses, a warning with the count).
    rereads: ClassVar[bool] = True
    # True for a source whose first look decides what it reads (a file source takes the backups it
    # finds then for history): its run() calls ctx.looked() once it has looked, and the agent says it
    # started only after that (up to a bound), so that what changes after `started` is not history.
    looks_first: ClassVar[bool] = False
    # The descriptors a running instance keeps open whatever it reads (its change notification, wake pipes),
    # counting one file it reads. The agent refuses a config whose sources need more than the soft descriptor
    # limit leaves it, at start (exit 2) and at a reload (the running config kept): shipper.fdlimit.
    descriptors_kept: ClassVar[int] = 0

    @classmethod
    def descriptors_for(cls, config: SourceConfig, base_dir: str) -> int:
        """The descriptors an instance of `config` keeps open (what the refusal adds up): `descriptors_kept`, unless
        the number depends on the config (the file source's recursive globs: a watcher more). `base_dir`: the
        config file's folder, which relative paths are taken from (SourceContext.base_dir)."""
        return cls.descriptors_kept

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

    @classmethod
    def saved_positions(cls, state: dict[str, Any]) -> list[SavedPosition]:
        """The file positions in this source's saved state (ctx.state's form), read by `shipper status`
        with no source running; a source that reads no files has none."""
        return []

    @classmethod
    def reads_file(cls, config: SourceConfig, base_dir: str, path: str) -> bool | None:
        """Would a source of `config` read the file at `path` (or a rotated backup at that name)? Asked of a source
        starting without a checkpoint for each file in a source no longer configured (saved_positions): only those it
        would read again are named, as if it were that source renamed. None (the default): cannot say, taken as yes."""
        return None

    @classmethod
    def saved_notes(cls, state: dict[str, Any]) -> list[str]:
        """Plain lines for `shipper status` on the saved keys that are not saved_positions() (`state`
        holds only those): by default each key with its value, shortened."""
        return [saved_value_line(k, v) for k, v in state.items()]

    def pending_bytes(self) -> int | None:
        """Bytes left to read now, also before run() started (from ctx.state), for the progress bar of
        `shipper run --once`; None if the source cannot say."""
        return None

    def held_deleted_bytes(self) -> int:
        """Disk space this source keeps from being freed until it reads on: deleted files it holds open so
        that nothing is lost. When the state_dir's filesystem is full and this is not 0, the agent gives up its
        reserve so that checkpoints are saved and reading frees that space (else it would wait for ever)."""
        return 0

    def last_error(self) -> dict[str, Any] | None:
        """The source's last read failure for /health and `shipper status` (shipper.failures.SourceFailures.report:
        kind, message, since, failing); None if it never failed or does not say."""
        return None

    def restarting(self) -> None:
        """A reload is about to stop this source and start it again (a changed config): keep what its
        successor must take over (hand_over) when run() returns, instead of letting it go. Called from
        the reload's thread while run() runs, before ctx.stop is set."""

    def removing(self) -> None:
        """A reload is about to stop this source for good (its block removed), called as restarting() is:
        hand_over() is then called too, once the reload has settled the batches (delivered, or taken back:
        read again by no one), and what it returns is closed at once, its state fragments saved: its
        close() names what is lost from what was delivered. By default nothing is kept: run() lets go
        of all as at a stop (then hand_over() returns None)."""

    def hand_over(self) -> Any:
        """After run() returned, before close(), of a source told restarting() (or removing()): what its
        successor takes over (take_over) so that nothing escapes between the two (files a reader holds open,
        say), or None. The object's close() lets it go if no successor takes it; this source's close() must
        not. Not called when run() did not return (close() then lets go of all)."""
        return None

    def look_ahead(self, config: SourceConfig, load_saved: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """A reload restarts this source with `config`, and the restart waits for batches its outputs are still
        sending (an output down: as long as that lasts): take now the first look its successor would take at
        what `config` adds (a file source: a path, whose backups at that look are history), and return state
        fragments for it, keys the source's saved state (`load_saved()`, read from the state_dir: call it only
        when there is something to look at) lacks; the core saves them before the agent says `reloaded`, and the
        successor starts from them. Called from a thread of the core, after run() returned or while it returns:
        look with objects of your own, not this source's. {} by default."""
        return {}

    def unsaved_state(self, saved: dict[str, Any]) -> dict[str, Any]:
        """At a stop that left batches undelivered, after run() returned: state fragments for what this run
        first read and no delivered batch's checkpoint saved (`saved`: the source's saved state now), so that
        the next start knows of it: reads it again, or names it lost if the product deleted it meanwhile (a
        file source: the files first read in this run, at the position each was found at). {} by default."""
        return {}

    def seen_unsaved(self, saved: dict[str, Any]) -> dict[str, Any]:
        """At a stop that delivered everything, after run() returned: state fragments for what this run saw of its
        inputs after its last delivered batch and did not read, which the next start needs to judge them (`saved`:
        the source's saved state now; a file source: the size a look saw a file grown to, so that the file cut back
        below it while the agent is stopped is a named loss). {} by default."""
        return {}

    @classmethod
    def takes_over(cls, config: SourceConfig) -> bool:
        """Whether a successor built from `config` takes over what its predecessor handed over (take_over). When
        not, the core lets it go (its close(), the state fragments that returns saved) before the successor is
        built, which then starts from them. True by default."""
        return True

    def take_over(self, handed: Any) -> None:
        """Before run(): what the predecessor handed over (hand_over), now this source's to close. By
        default it is let go. Raise before taking any of it: the core then closes it."""
        handed.close()

    def close(self) -> None:
        """Release what the source holds (connections, files, what restarting() kept and no successor
        took). Called once after run() returned, or after a stop gave up waiting for it (then from
        another thread while run() may still be blocked), and also when run() never ran."""


class Output(ABC):
    """Delivers batches of events somewhere (docs/writing-plugins.md, Outputs).

    `Output(config, ctx)`: `config` is the validated block (an instance of the class's `Config`, an
    OutputConfig subclass), `ctx` an OutputContext; do not connect here (`shipper check` builds outputs
    to describe them). `send(batch)` returns once the batch is stored: that acknowledges it. Class
    attributes: `Config`, `coalesce` (with send_many), `takes_lines`, `reads_index_keys`,
    `stores_in_order`, `finishes_sends`, `descriptors_kept` (with `descriptors_for(config)`); `trouble` is the
    delivery problem while send() retries. The other methods are optional.
    """

    Config: ClassVar[type[OutputConfig]] = OutputConfig
    # (max events, max seconds): when set, the output worker hands up to that many events of queued
    # batches to send_many() at once, waiting at most that long for more. None: one batch per send().
    coalesce: tuple[int, float] | None = None
    # send() writes a batch's `lines` when it has them and then never reads its events: a source parsing in
    # its own thread serialises its events at once for a route whose outputs all do (and keeps dicts else).
    takes_lines: ClassVar[bool] = False
    # With `lines`, it reads `index_keys` too (an index named by the event); False spares their making.
    reads_index_keys: ClassVar[bool] = True
    # What it stores keeps the order events were sent in (a stream, a file); False for an index, whose
    # export or scroll has an order of its own: attestations say so and `shipper verify` tells no
    # reordering in such a store's trail.
    stores_in_order: ClassVar[bool] = True
    # A send() that has begun writing is never cut short by a stop or a close: it returns once its batch
    # is written whole (stdout: a write blocked on a paused pipe reader goes on when it reads again).
    # A reload that replaces or removes such an output waits for that send, whose batch then counts as
    # delivered, instead of reading the batch again for the replacement (which would write it twice).
    finishes_sends: ClassVar[bool] = False
    # The descriptors a running instance keeps open (its connection, its file): the descriptor refusal adds them to
    # the sources' (shipper.fdlimit; ten Fluentd outputs beside eight file sources under a limit of 64 were accepted
    # counted as none, and four never connected: tests/tail/test_attack21_outputs_uncounted_descriptor_refusal.py).
    descriptors_kept: ClassVar[int] = 1
    # The delivery problem while it lasts, when send() retries inside (for /health and `shipper
    # status`); None while delivering. Never holds a secret.
    trouble: str | None = None

    def __init__(self, config: OutputConfig, ctx: "OutputContext"):
        self.config = config
        self.ctx = ctx

    @classmethod
    def descriptors_for(cls, config: OutputConfig) -> int:
        """The descriptors an instance of `config` keeps open: `descriptors_kept`, unless that depends on the config
        (a connection to each of several servers)."""
        return cls.descriptors_kept

    def start(self) -> None:
        """Called once, before the first send(), in the agent (not by `shipper check`). An exception
        here is logged with its traceback and the output takes no batch (under --once the run ends,
        exit 1): keep what a retry can fix (a server down) for send()."""

    @abstractmethod
    def send(self, batch: Batch) -> None:
        """Deliver the batch; return only once it is stored. Retry transient failures inside, with
        backoff; raise PermanentRefusal when the server refuses for a reason a retry will not fix,
        EndRun when the agent cannot go on, Stopping if ctx.stop is set before it could be delivered
        (the batch is then not acknowledged and is read again)."""

    def send_many(self, batches: list[Batch]) -> None:
        """Deliver several batches (with `coalesce` set); all are acknowledged when it returns.
        By default one send() each: a failure part-way sends the delivered ones again (same ids)."""
        for batch in batches:
            self.send(batch)

    def cut_short(self) -> str | None:
        """With `finishes_sends`: how much of the batch of a send in progress already reached its
        destination ("312 of the 1000 lines of its batch"), or None. A stop that ends the agent inside that send
        names it: those events are sent again at the next start."""
        return None

    def in_flight(self) -> str | None:
        """At an exit that does not wait for the send in progress (a second signal): what of it the destination may
        already hold ("a chunk of 500 events written whole, waiting for its ack"), named there as a possible repeat
        of the next start; None when nothing. Called once, from the main thread, while the send may still run."""
        return None

    def probe(self) -> str | Mapping[str, Any] | None:
        """For `shipper check --outputs`: connect (TLS, auth), send no event, return what was found
        (text, or a mapping shown as `key: value` lines), or raise with why it failed. None: this
        output cannot probe."""
        return None

    def describe(self) -> str:
        """One line for `shipper check`: where this output would write. By default its type."""
        return self.config.type

    def read_back(self, since: str | None = None) -> Iterator[tuple[str, dict]]:
        """(where, event) for what this output stored since an ISO time, for `shipper verify
        --output`: outputs that can read their store back (Elasticsearch) implement it."""
        raise NotImplementedError(f"output type {self.config.type!r} cannot read back what it stored")

    def close(self) -> None:
        """Release connections and files, flushing nothing unacknowledged. Called once at a stop or
        when a reload replaces the output, also after a start() that raised: close only what is open."""


@dataclass
class OutputContext:
    """What the pipeline gives an output (`self.ctx`).

    `name`: the output's configured (or derived) name. `stop`: set when the agent stops: a retry
    waits on it (`stop.wait(delay)`) and raises Stopping once it is set. `state_dir`: the agent's state
    folder (for a dead-letter file, say). `logger`: this output's logger. `once`: `shipper run --once`:
    give up on a failure after bounded retries with EndRun, never wait for ever. `stored(batch,
    positions)`: see below.
    """

    name: str  # the output's configured (or derived) name
    stop: threading.Event
    state_dir: str
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("shipper.output"))
    once: bool = False  # `run --once`: give up on a failure after bounded retries (EndRun), never wait forever
    # Set by the agent's output worker (shipper.output_worker) while a send runs; see stored().
    on_stored: Callable[[Batch, Sequence[int]], None] | None = None

    def stored(self, batch: Batch, positions: Sequence[int]) -> None:
        """For an output that stores a batch in parts (chunks of its own size, or the batches of a
        send_many one after another): call this as each part is stored (acknowledged), with the
        positions in `batch.events` of that part's events, before send() returns (or, for a send that
        failed or was stopped, in close(): the worker keeps it until its next send). A stop or a reload
        that cuts the send short then notes them as stored by this output, and the re-read does not
        send them to it again (else the whole batch is: a repeat). Harmless outside the agent."""
        if self.on_stored is not None:
            self.on_stored(batch, positions)
