"""Prometheus metrics of the agent (prometheus-client); served by the HTTP endpoint when enabled."""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

REGISTRY = CollectorRegistry(auto_describe=True)

events_read = Counter("shipper_events_read", "Events produced by a source's parser", ["source"], registry=REGISTRY)
bytes_read = Counter("shipper_bytes_read", "Raw bytes read by a source", ["source"], registry=REGISTRY)
parse_failures = Counter("shipper_parse_failures", "Records shipped with _parse_failure", ["source"], registry=REGISTRY)
unmapped_actions = Counter("shipper_unmapped_actions", "Events whose action is not in the catalogue", ["source"], registry=REGISTRY)
unrouted = Counter("shipper_events_unrouted", "Events no output's match accepted", ["source"], registry=REGISTRY)
events_shipped = Counter("shipper_events_shipped", "Events acknowledged by an output", ["output"], registry=REGISTRY)
output_errors = Counter("shipper_output_errors", "Failed delivery attempts", ["output"], registry=REGISTRY)
output_retries = Counter("shipper_output_retries", "Batches or items sent again", ["output"], registry=REGISTRY)
duplicates_avoided = Counter("shipper_duplicates_avoided", "Events the output already had (e.g. 409 on create)", ["output"], registry=REGISTRY)
dead_lettered = Counter("shipper_dead_lettered", "Events rejected by an output and written to its dead-letter file", ["output"], registry=REGISTRY)
in_flight_batches = Gauge("shipper_in_flight_batches", "Batches queued or being sent", ["output"], registry=REGISTRY)
in_flight_bytes = Gauge("shipper_in_flight_bytes", "Bytes queued or being sent", ["output"], registry=REGISTRY)
last_success = Gauge("shipper_output_last_success_timestamp", "Unix time of the last delivered batch", ["output"], registry=REGISTRY)
lines_truncated = Counter("shipper_lines_truncated", "Lines cut at max_line_bytes", ["source"], registry=REGISTRY)
losses = Counter("shipper_losses", "Times data was deleted or truncated before it was read (also when the amount is unknown)", ["source"], registry=REGISTRY)
bytes_lost = Counter("shipper_bytes_lost", "Bytes deleted or truncated before they could be read", ["source"], registry=REGISTRY)
rotations = Counter("shipper_rotations_followed", "File rotations followed", ["source"], registry=REGISTRY)
hole_bytes = Counter("shipper_hole_bytes_skipped", "Zero bytes (holes) skipped in followed files, never shipped", ["source"], registry=REGISTRY)
files_unreadable = Gauge("shipper_files_unreadable", "Matched files that cannot be opened (permissions, I/O errors)", ["source"], registry=REGISTRY)
files_undecided = Gauge("shipper_files_undecided", "Files waiting to be told apart from a copy (too short to compare)", ["source"], registry=REGISTRY)
held_bytes = Gauge("shipper_file_held_bytes", "Disk space kept by rotated files held open after deletion, not yet read", ["source"], registry=REGISTRY)
undecided_read = Counter("shipper_files_undecided_read", "Files read as new after waiting: they could not be told from a copy", ["source"], registry=REGISTRY)
lag_bytes = Gauge("shipper_file_lag_bytes", "Bytes of a followed file not yet read", ["source", "path"], registry=REGISTRY)
checkpoint_time = Gauge("shipper_checkpoint_timestamp", "Unix time of the source's last checkpoint commit", ["source"], registry=REGISTRY)
source_errors = Counter("shipper_source_errors", "Errors while reading a source (retried)", ["source", "kind"], registry=REGISTRY)
vendor_id_gaps = Counter("shipper_vendor_id_gaps", "Ids of the product's own numbering never seen (gaps still open after the grace period)", ["source"], registry=REGISTRY)


def forget_metrics(label: str, value: str) -> None:
    """Drop every series whose `label` is `value` (a source or output a reload removed): over months
    of reloads the label sets of what no longer exists would otherwise pile up in memory and in
    every scrape."""
    from prometheus_client.metrics import MetricWrapperBase

    for metric in list(globals().values()):
        if not isinstance(metric, MetricWrapperBase) or label not in metric._labelnames:
            continue
        keys = set()
        for fam in metric.collect():
            for sample in fam.samples:
                if sample.labels.get(label) == value:
                    keys.add(tuple(sample.labels[n] for n in metric._labelnames))
        for key in keys:
            try:
                metric.remove(*key)
            except KeyError:
                pass
