"""The agent's counters (shipper.metrics) as Prometheus reads them: prometheus-client's registry (reached as
shipper.metrics.REGISTRY, made at its first use), with a collector that exports every family at each scrape."""
from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from shipper.metrics import Family

_registry: CollectorRegistry | None = None
_lock = threading.Lock()  # one registry, whichever thread asks first (a plugin's metrics and /metrics share it)


def registry_exporting(families: list[Family]) -> CollectorRegistry:
    """The registry; the first call makes it, exporting `families` (the list itself: families added later too)."""
    global _registry
    with _lock:
        if _registry is None:
            _registry = CollectorRegistry(auto_describe=True)
            _registry.register(_Exported(families))
        return _registry


def exported(f: Family) -> Metric:
    """One family's values, a sample per label set (a counter's name gains `_total` in the exposition)."""
    family = (CounterMetricFamily if f.kind == "counter" else GaugeMetricFamily)(f.name, f.doc,
                                                                                 labels=list(f.labelnames))
    for key, value in f.items():
        family.add_metric(list(key), value)
    return family


class _Exported(Collector):
    """The families of shipper.metrics, as Prometheus reads them at each scrape."""

    def __init__(self, families: list[Family]):
        self.families = families

    def collect(self) -> Iterator[Metric]:
        for f in self.families:
            yield exported(f)
