"""Events per second read and shipped, from the agent's counts (shipper.metrics): for the runner's summary line and
the progress bar of `shipper run --once --progress`."""
from __future__ import annotations

from collections import deque

from shipper import metrics


class Rates:
    """Events per second read and shipped, over the last ~10 s."""

    def __init__(self, window: float = 10.0):
        self.window = window
        self._samples: deque[tuple[float, float, float]] = deque()

    @staticmethod
    def totals() -> tuple[float, float]:
        return metrics.events_read.total(), metrics.events_shipped.total()

    def sample(self, now: float) -> tuple[float, float]:
        read, shipped = self.totals()
        self._samples.append((now, read, shipped))
        while len(self._samples) > 2 and now - self._samples[0][0] > self.window:
            self._samples.popleft()
        t0, r0, s0 = self._samples[0]
        dt = now - t0
        return ((read - r0) / dt, (shipped - s0) / dt) if dt > 0 else (0.0, 0.0)
