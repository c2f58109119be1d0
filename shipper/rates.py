"""Events per second read and shipped, from the counters the pipeline's sources and outputs keep: for the runner's
summary line and the progress bar of `shipper run --once --progress`."""
from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shipper.pipeline import Pipeline


def totals(pipeline: Pipeline) -> tuple[float, float]:
    """Events read by every source and shipped by every output so far."""
    return (sum(c.read.value for c in pipeline.source_counts()),
            sum(c.shipped.value for c in pipeline.output_counts()))


class Rates:
    """Events per second read and shipped, over the last ~10 s."""

    def __init__(self, pipeline: Pipeline, window: float = 10.0):
        self.pipeline = pipeline
        self.window = window
        self._samples: deque[tuple[float, float, float]] = deque()

    def sample(self, now: float) -> tuple[float, float]:
        read, shipped = totals(self.pipeline)
        self._samples.append((now, read, shipped))
        while len(self._samples) > 2 and now - self._samples[0][0] > self.window:
            self._samples.popleft()
        t0, r0, s0 = self._samples[0]
        dt = now - t0
        return ((read - r0) / dt, (shipped - s0) / dt) if dt > 0 else (0.0, 0.0)
