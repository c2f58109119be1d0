"""Events per second read and shipped, from the metrics counters: for the runner's summary line and
the progress bar of `shipper run --once --progress`."""
from __future__ import annotations

from collections import deque

from shipper import metrics


class Rates:
    """Events per second read and shipped, over the last ~10 s, from the metrics counters."""

    def __init__(self, window: float = 10.0):
        self.window = window
        self._samples: deque[tuple[float, float, float]] = deque()

    @staticmethod
    def totals() -> tuple[float, float]:
        read = shipped = 0.0
        # Only these two metrics: the whole registry holds a lag series per followed file.
        for fam in [*metrics.events_read.collect(), *metrics.events_shipped.collect()]:
            for s in fam.samples:
                if s.name == "shipper_events_read_total":
                    read += s.value
                elif s.name == "shipper_events_shipped_total":
                    shipped += s.value
        return read, shipped

    def sample(self, now: float) -> tuple[float, float]:
        read, shipped = self.totals()
        self._samples.append((now, read, shipped))
        while len(self._samples) > 2 and now - self._samples[0][0] > self.window:
            self._samples.popleft()
        t0, r0, s0 = self._samples[0]
        dt = now - t0
        return ((read - r0) / dt, (shipped - s0) / dt) if dt > 0 else (0.0, 0.0)
