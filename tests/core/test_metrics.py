"""shipper.metrics: the components keep their counters and are read through them (SourceCounts, OutputCounts);
Prometheus scrapes the same numbers, and nothing in the core reads a count back by its metric's name."""
from __future__ import annotations

import pathlib
import re
import threading

import pytest
from prometheus_client import generate_latest

from shipper import metrics


def scraped(name: str, labels: dict[str, str]) -> float | None:
    return metrics.REGISTRY.get_sample_value(name, labels)


def test_counts_from_many_threads_are_exact_and_scraped_as_read():
    count = metrics.output_retries.labels("m-threads")
    before = count.value

    def bump():
        for _ in range(5000):
            count.inc()

    threads = [threading.Thread(target=bump) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert count.value == before + 40000
    assert scraped("shipper_output_retries_total", {"output": "m-threads"}) == before + 40000


def test_gauges_set_and_move_both_ways_counters_only_up():
    g = metrics.in_flight_bytes.labels("m-gauge")
    g.set(10)
    g.dec(4)
    g.inc(1)
    assert g.value == 7
    assert scraped("shipper_in_flight_bytes", {"output": "m-gauge"}) == 7
    with pytest.raises(ValueError):
        metrics.events_shipped.labels("m-gauge").inc(-1)
    with pytest.raises(ValueError):
        metrics.lag_bytes.labels("only-one-label")


def test_never_counted_reads_zero_and_makes_no_series():
    assert 'source="m-never"' not in generate_latest(metrics.REGISTRY).decode()


def test_forget_drops_every_series_of_a_removed_source():
    metrics.events_read.labels("m-gone").inc(3)
    metrics.lag_bytes.labels("m-gone", "/var/log/a.log").set(12)
    metrics.lag_bytes.labels("m-kept", "/var/log/a.log").set(5)
    metrics.forget_metrics("source", "m-gone")
    text = generate_latest(metrics.REGISTRY).decode()
    assert 'source="m-gone"' not in text
    assert metrics.events_read.labels("m-gone").value == 0  # a source of that name added again starts at 0
    assert scraped("shipper_file_lag_bytes", {"source": "m-kept", "path": "/var/log/a.log"}) == 5
    with pytest.raises(KeyError):
        metrics.lag_bytes.remove("m-gone", "/var/log/a.log")


def test_a_reading_is_taken_at_each_scrape_and_forgotten_with_its_source():
    held = [0]
    metrics.held_bytes.read_by(lambda: held[0], "m-read")
    metrics.held_bytes.read_by(lambda: 7, "m-read-kept")
    held[0] = 1_050_336  # changed without telling anyone: the owner's thread may be blocked
    assert scraped("shipper_file_held_bytes", {"source": "m-read"}) == 1_050_336
    metrics.held_bytes.read_by(lambda: 5, "m-read")  # a source restarted by a reload replaces the old reading
    assert scraped("shipper_file_held_bytes", {"source": "m-read"}) == 5
    metrics.forget_metrics("source", "m-read")
    assert scraped("shipper_file_held_bytes", {"source": "m-read"}) is None
    metrics.held_bytes.remove("m-read-kept")
    assert scraped("shipper_file_held_bytes", {"source": "m-read-kept"}) is None
    with pytest.raises(KeyError):
        metrics.held_bytes.remove("m-read-kept")


def test_what_a_component_counts_is_what_prometheus_scrapes():
    """A source's counters are kept by its runner and its EventBuilder (an output's by its worker and the
    output plugin): each takes its own bundle, and all of them and the exposition see one value."""
    runner, builder = metrics.SourceCounts("m-kept"), metrics.SourceCounts("m-kept")
    runner.losses.inc()
    builder.read.inc(3)
    assert (runner.read.value, builder.losses.value) == (3, 1)
    assert scraped("shipper_events_read_total", {"source": "m-kept"}) == 3
    assert scraped("shipper_losses_total", {"source": "m-kept"}) == 1
    worker = metrics.OutputCounts("m-kept")
    before = worker.progress()
    metrics.dead_lettered.labels("m-kept").inc(2)  # as an output plugin counts
    assert worker.progress() != before and worker.dead_lettered.value == 2
    assert scraped("shipper_dead_lettered_total", {"output": "m-kept"}) == 2


def test_the_core_reads_no_counts_back_from_the_registry():
    """Readers (the core and the plugins shipped with it) read a component's counters (SourceCounts,
    OutputCounts, through the pipeline): no walks over the registry's samples or a metric's collect(), no
    exposition text parsed back, no private _value, no family's values looked up by label."""
    root = pathlib.Path(metrics.__file__).parent.parent
    offending = re.compile(r"get_sample_value|REGISTRY\.collect|(?<!gc)\.collect\(\)|generate_latest|"
                           r"\._value\.get|\.samples\b|\bmetrics\.[a-z_]+\.(get|total|items)\(")
    found = [f"{p.relative_to(root)}:{i}" for tree in ("shipper", "plugins") for p in sorted((root / tree).rglob("*.py"))
             for i, line in enumerate(p.read_text().splitlines(), 1) if offending.search(line)]
    assert found == []


def test_a_removed_source_leaves_no_failure_gauge_behind():
    """A source a reload removed while it was failing must not be reported failing for ever."""
    import logging

    from shipper.failures import SourceFailures

    f = SourceFailures(logging.getLogger("test"), "m-failing")
    f.failed("http_503", "server said 503")
    assert scraped("shipper_source_failing", {"source": "m-failing"}) == 1
    assert (scraped("shipper_source_last_error_timestamp", {"source": "m-failing", "kind": "http_503"}) or 0) > 0
    metrics.forget_metrics("source", "m-failing")
    assert 'source="m-failing"' not in generate_latest(metrics.REGISTRY).decode()


def test_a_plugins_own_metric_is_exported_and_forgotten_with_its_source():
    mine = metrics.counter("shipper_test_plugin_widgets", "Widgets a test plugin saw", ["source"])
    try:
        mine.labels("m-plugin").inc(2)
        assert scraped("shipper_test_plugin_widgets_total", {"source": "m-plugin"}) == 2
        with pytest.raises(ValueError):
            metrics.gauge("shipper_test_plugin_widgets", "the same name again", ["source"])
        metrics.forget_metrics("source", "m-plugin")
        assert scraped("shipper_test_plugin_widgets_total", {"source": "m-plugin"}) is None
    finally:
        metrics.FAMILIES.remove(mine)
