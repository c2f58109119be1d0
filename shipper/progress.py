"""Progress bars on stderr for `shipper cat` and `shipper run --once`, only when stderr is a terminal:
bytes done/total and events per second (drawn by shipper.progress_bar, which imports rich only then).
Otherwise nothing extra is written anywhere.
While a bar shows, the agent's log lines go through the bar's console (printed above the bar, never
into its line). OnceSummary is the line `run --once` ends with."""
from __future__ import annotations

import os
import sys
import time
from contextlib import contextmanager
from typing import TYPE_CHECKING, Iterator

if TYPE_CHECKING:
    from shipper.pipeline import Pipeline
    from shipper.progress_bar import CatBar, RunBar


def wanted(stream=None) -> bool:
    stream = sys.stderr if stream is None else stream
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class _NoBar:
    def update(self, *a, **k) -> None:
        pass

    def advance(self, *a, **k) -> None:
        pass


@contextmanager
def cat_progress(paths: list[str], enabled: bool | None = None, stream=None) -> Iterator[CatBar | _NoBar]:
    stream = sys.stderr if stream is None else stream
    if not (wanted(stream) if enabled is None else enabled):
        yield _NoBar()
        return
    total: int | None = None  # unknown when reading stdin
    if "-" not in paths:
        total = 0
        for p in paths:
            try:
                total += os.path.getsize(p)
            except OSError:
                pass
    from shipper.progress_bar import CatBar, shown

    with shown(stream) as prog:
        yield CatBar(prog, total)


@contextmanager
def run_progress(pipeline, enabled: bool = False, stream=None) -> Iterator[RunBar | _NoBar]:
    stream = sys.stderr if stream is None else stream
    if not enabled or not wanted(stream):
        yield _NoBar()
        return
    from shipper.progress_bar import RunBar, shown

    with shown(stream) as prog:
        bar = RunBar(prog, pipeline)
        yield bar
        bar._last = 0.0
        bar.update()


class OnceSummary:
    """`run --once`'s last line: what this run read, shipped, failed, avoided and lost, and its time
    (differences of the counters the pipeline's sources and outputs keep, so an earlier run in the process
    under the same source or output names never counts)."""

    def __init__(self, pipeline: Pipeline):
        self.pipeline = pipeline
        self._start = time.monotonic()
        self._base = self._totals()

    def _totals(self) -> dict[str, float]:
        sources, outputs = self.pipeline.source_counts(), self.pipeline.output_counts()
        return {"read": sum(c.read.value for c in sources), "lost_bytes": sum(c.bytes_lost.value for c in sources),
                "losses": sum(c.losses.value for c in sources), "shipped": sum(c.shipped.value for c in outputs),
                "failed": sum(c.dead_lettered.value for c in outputs),
                "duplicates": sum(c.duplicates_avoided.value for c in outputs)}

    def line(self) -> str:
        now = self._totals()
        d = {k: int(now[k] - self._base[k]) for k in now}
        lost = f"{d['lost_bytes']} bytes lost" + (f" ({d['losses']} times)" if d["losses"] else "")
        if d["losses"] and not d["lost_bytes"]:
            lost = f"{d['losses']} losses of unknown size"
        return (f"run --once: read {d['read']} events, shipped {d['shipped']}, failed {d['failed']} (dead-lettered), "
                f"duplicates avoided {d['duplicates']}, {lost}, {time.monotonic() - self._start:.1f} s")
