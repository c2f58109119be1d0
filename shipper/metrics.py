"""The agent's counters and their Prometheus exposition.

Each component keeps its own counters and is read through them: a source runner, its parser's EventBuilder and
its source hold a SourceCounts, an output worker and its output an OutputCounts, and the pipeline hands them to
their readers (the watchdog, the rates, the progress bar, `run --once`'s summary, /health and the attestations).
Nothing reads a count back by its metric's name: a Family below only indexes the components' values by label for
the exposition, which Prometheus reads through a collector when /metrics is scraped.

Why not prometheus-client's own Counter and Gauge: their values can be read back only through a private
attribute or a walk over the registry's text samples by name (which the readers above once did). A custom
collector is prometheus-client's documented way to export values held elsewhere; the exposition (names,
`_total`, help, labels) is the same. Metrics a plugin registers itself in REGISTRY are exported as before.

prometheus-client and the HTTP and e-mail modules it imports cost ~0.1 s of a core at each start (bench/README.md,
session 15): they are imported only once REGISTRY is first asked for (shipper.metrics_exposition), by an agent
that serves /metrics or a plugin that registers metrics of its own. The counting here needs none of it."""
from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Callable, TypeVar

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    REGISTRY: CollectorRegistry


class Count:
    """One labelled counter's value: it only goes up."""

    __slots__ = ("value", "_lock")

    def __init__(self) -> None:
        self.value = 0.0
        self._lock = threading.Lock()  # += is not atomic across threads

    def inc(self, amount: float = 1) -> None:
        if amount < 0:
            raise ValueError(f"a counter only goes up; not by {amount}")
        with self._lock:
            self.value += amount


class Level(Count):
    """One labelled gauge's value: set, or moved either way."""

    __slots__ = ()

    def inc(self, amount: float = 1) -> None:
        with self._lock:
            self.value += amount

    def dec(self, amount: float = 1) -> None:
        self.inc(-amount)

    def set(self, value: float) -> None:
        self.value = float(value)


class Family:
    """A metric's values by label values (a source or output name, a path)."""

    kind = "counter"
    _make: type[Count] = Count

    def __init__(self, name: str, doc: str, labelnames: list[str]):
        self.name = name
        self.doc = doc
        self.labelnames = tuple(labelnames)
        self._values: dict[tuple[str, ...], Count] = {}
        self._readings: dict[tuple[str, ...], Callable[[], float]] = {}
        self._lock = threading.Lock()

    def _key(self, values: tuple[object, ...]) -> tuple[str, ...]:
        if len(values) != len(self.labelnames):
            raise ValueError(f"{self.name} takes the labels {self.labelnames}, not {values!r}")
        return tuple(str(v) for v in values)

    def labels(self, *values: object) -> Count:
        """The value for these label values, made at 0 on first use (components keep it: counting is then one lock)."""
        key = self._key(values)
        v = self._values.get(key)
        if v is None:
            with self._lock:
                v = self._values.setdefault(key, self._make())
        return v

    def items(self) -> list[tuple[tuple[str, ...], float]]:
        """Every label set's value, for the exposition."""
        with self._lock:
            pairs = list(self._values.items())
            readings = list(self._readings.items())
        return [(k, v.value) for k, v in pairs] + [(k, read()) for k, read in readings]

    def remove(self, *values: object) -> None:
        """Drop one label set; KeyError if it has none (as prometheus-client does)."""
        key = self._key(values)
        with self._lock:
            if self._readings.pop(key, None) is None:
                del self._values[key]

    def forget(self, label: str, value: str) -> None:
        """Drop every label set whose `label` is `value`."""
        if label not in self.labelnames:
            return
        i = self.labelnames.index(label)
        with self._lock:
            for key in [k for k in self._values if k[i] == value]:
                del self._values[key]
            for key in [k for k in self._readings if k[i] == value]:
                del self._readings[key]


class GaugeFamily(Family):
    kind = "gauge"
    _make = Level

    def labels(self, *values: object) -> Level:
        v = super().labels(*values)
        assert isinstance(v, Level)
        return v

    def read_by(self, read: Callable[[], float], *values: object) -> None:
        """These label values' sample is `read()` when /metrics is scraped: for a figure its owner's thread
        may not be free to copy into a Level when it changes (a file source blocked by backpressure while the
        disk space its held files keep grows is exactly when the figure matters)."""
        key = self._key(values)
        with self._lock:
            self._readings[key] = read


FAMILIES: list[Family] = []
F = TypeVar("F", bound=Family)


def counter(name: str, doc: str, labelnames: list[str]) -> Family:
    """A counter family, exported at /metrics as `<name>_total`; a plugin makes its own here (label it
    by `source` or `output` and a reload that removes one forgets its series)."""
    return _add(Family(name, doc, labelnames))


def gauge(name: str, doc: str, labelnames: list[str]) -> GaugeFamily:
    """A gauge family (set, or moved either way), as counter() says."""
    return _add(GaugeFamily(name, doc, labelnames))


def _add(f: F) -> F:
    if any(known.name == f.name for known in FAMILIES):  # prometheus-client refuses a name twice too
        raise ValueError(f"metric {f.name} is defined twice")
    FAMILIES.append(f)
    return f


events_read = counter("shipper_events_read", "Events produced by a source's parser", ["source"])
bytes_read = counter("shipper_bytes_read", "Raw bytes read by a source", ["source"])
parse_failures = counter("shipper_parse_failures", "Records shipped with _parse_failure", ["source"])
unmapped_actions = counter("shipper_unmapped_actions", "Events whose action is not in the catalogue", ["source"])
unrouted = counter("shipper_events_unrouted", "Events no output's match accepted", ["source"])
events_shipped = counter("shipper_events_shipped", "Events acknowledged by an output", ["output"])
output_errors = counter("shipper_output_errors", "Failed delivery attempts", ["output"])
output_retries = counter("shipper_output_retries", "Batches or items sent again", ["output"])
duplicates_avoided = counter("shipper_duplicates_avoided", "Events the output already had (e.g. 409 on create)", ["output"])
dead_lettered = counter("shipper_dead_lettered", "Events rejected by an output and written to its dead-letter file", ["output"])
in_flight_batches = gauge("shipper_in_flight_batches", "Batches queued or being sent", ["output"])
in_flight_bytes = gauge("shipper_in_flight_bytes", "Bytes queued or being sent", ["output"])
last_success = gauge("shipper_output_last_success_timestamp", "Unix time of the last delivered batch", ["output"])
lines_truncated = counter("shipper_lines_truncated", "Lines cut at max_line_bytes", ["source"])
losses = counter("shipper_losses", "Times data was deleted or truncated before it was read (also when the amount is unknown)", ["source"])
bytes_lost = counter("shipper_bytes_lost", "Bytes deleted or truncated before they could be read", ["source"])
rotations = counter("shipper_rotations_followed", "File rotations followed", ["source"])
read_again = counter("shipper_bytes_read_again", "Bytes of followed files read again from their start: their content "
                     "before the read offset changed in place and where what was read ends could not be proven", ["source"])
hole_bytes = counter("shipper_hole_bytes_skipped", "Zero bytes (holes) skipped in followed files, never shipped", ["source"])
files_unreadable = gauge("shipper_files_unreadable", "Matched files that cannot be opened (permissions, I/O errors)", ["source"])
files_undecided = gauge("shipper_files_undecided", "Files waiting to be told apart from a copy (too short to compare)", ["source"])
held_bytes = gauge("shipper_file_held_bytes", "Disk space kept by rotated files held open after deletion, not yet read", ["source"])
tombstones = gauge("shipper_file_tombstones", "Contents read to their end and gone, remembered so that their compressed "
                   "copies are not read again (bounded in count and time: docs/operations.md)", ["source"])
tombstones_forgotten = counter("shipper_file_tombstones_forgotten", "Tombstones forgotten before their hour, past the "
                               "number kept per family or per source (the oldest first)", ["source"])
undecided_read = counter("shipper_files_undecided_read", "Files read as new after waiting: they could not be told from a copy", ["source"])
lag_bytes = gauge("shipper_file_lag_bytes", "Bytes of a followed file not yet read", ["source", "path"])
checkpoint_time = gauge("shipper_checkpoint_timestamp", "Unix time of the source's last checkpoint commit", ["source"])
source_errors = counter("shipper_source_errors", "Errors while reading a source (retried)", ["source", "kind"])
source_failing = gauge("shipper_source_failing", "1 while the source (or a part of it) fails to read", ["source"])
source_last_error = gauge("shipper_source_last_error_timestamp", "Unix time of the source's last failure of this kind", ["source", "kind"])
vendor_id_gaps = counter("shipper_vendor_id_gaps", "Ids of the product's own numbering never seen (gaps still open after the grace period)", ["source"])


class SourceCounts:
    """A source's counters, kept by the parts that count them: its runner (unrouted, losses it names, vendor id
    gaps, checkpoint time) and its parser's EventBuilder (read, bytes, parse failures, unmapped actions). A source
    plugin counting its own losses takes `losses.labels(name)`, the same value. The pipeline reads them through
    the runner."""

    __slots__ = ("read", "bytes_read", "parse_failures", "unmapped_actions", "unrouted", "losses", "bytes_lost",
                 "vendor_id_gaps", "checkpoint_time")

    def __init__(self, source: str):
        self.read = events_read.labels(source)
        self.bytes_read = bytes_read.labels(source)
        self.parse_failures = parse_failures.labels(source)
        self.unmapped_actions = unmapped_actions.labels(source)
        self.unrouted = unrouted.labels(source)
        self.losses = losses.labels(source)
        self.bytes_lost = bytes_lost.labels(source)
        self.vendor_id_gaps = vendor_id_gaps.labels(source)
        self.checkpoint_time = checkpoint_time.labels(source)


class OutputCounts:
    """An output's counters, kept by its worker (shipped, in flight, last success, failed attempts) and by the
    output plugin (errors, retries, duplicates avoided, dead-lettered: `output_errors.labels(name)` and so on,
    the same values). The pipeline reads them through the worker."""

    __slots__ = ("shipped", "errors", "retries", "duplicates_avoided", "dead_lettered", "in_flight_batches",
                 "in_flight_bytes", "last_success")

    def __init__(self, output: str):
        self.shipped = events_shipped.labels(output)
        self.errors = output_errors.labels(output)
        self.retries = output_retries.labels(output)
        self.duplicates_avoided = duplicates_avoided.labels(output)
        self.dead_lettered = dead_lettered.labels(output)
        self.in_flight_batches = in_flight_batches.labels(output)
        self.in_flight_bytes = in_flight_bytes.labels(output)
        self.last_success = last_success.labels(output)

    def progress(self) -> tuple[float, ...]:
        """The counters a working or retrying output moves (the watchdog's sign of life)."""
        return (self.shipped.value, self.errors.value, self.retries.value, self.duplicates_avoided.value,
                self.dead_lettered.value)


def __getattr__(name: str) -> object:
    """`REGISTRY`: prometheus-client's registry, the families above exported from it, made on first use."""
    if name != "REGISTRY":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from shipper.metrics_exposition import registry_exporting

    return registry_exporting(FAMILIES)


def forget_metrics(label: str, value: str) -> None:
    """Drop every series whose `label` is `value` (a source or output a reload removed): over months
    of reloads the label sets of what no longer exists would otherwise pile up in memory and in
    every scrape."""
    for f in FAMILIES:
        f.forget(label, value)
