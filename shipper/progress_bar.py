"""The progress bars themselves (rich), on stderr when it is a terminal: imported by shipper.progress only
then, so a run whose stderr is a file or a pipe does not import rich (~27 ms of CPU at every start)."""
from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Iterator

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, ProgressColumn, TextColumn, TimeElapsedColumn
from rich.text import Text

from shipper.rates import totals


class EventsPerSecond(ProgressColumn):
    def render(self, task) -> Text:
        elapsed = task.elapsed or 0.0
        events = task.fields.get("events", 0)
        rate = events / elapsed if elapsed > 0 else 0.0
        return Text(f"{events} events, {rate:,.0f} events/s", style="progress.data.speed")


def _progress(console: Console) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(binary_units=True),
                    EventsPerSecond(), TimeElapsedColumn(), console=console, transient=False)


class _ConsoleStream:
    """A text stream for logging.StreamHandler that prints whole lines through a rich console."""

    def __init__(self, console: Console):
        self.console = console
        self._buf = ""

    def write(self, text: str) -> int:
        self._buf += text
        while "\n" in self._buf:
            line, self._buf = self._buf.split("\n", 1)
            self.console.print(line, markup=False, highlight=False, emoji=False, soft_wrap=True)
        return len(text)

    def flush(self) -> None:
        pass


@contextmanager
def _logs_through(console: Console, stream) -> Iterator[None]:
    """The shipper logger's handlers that write to `stream` — or to its descriptor through a stream of their own (the
    journal on a terminal: shipper.journal_pipe) — write through `console` meanwhile."""
    import logging

    moved = [(h, h.stream) for h in logging.getLogger("shipper").handlers
             if isinstance(h, logging.StreamHandler) and _same_descriptor(getattr(h, "stream", None), stream)]
    proxy = _ConsoleStream(console)
    for h, _ in moved:
        h.setStream(proxy)
    try:
        yield
    finally:
        for h, own in moved:
            h.setStream(own)


def _same_descriptor(a, b) -> bool:
    if a is b:
        return True
    try:
        return a is not None and a.fileno() == b.fileno()
    except (OSError, ValueError, AttributeError):  # (io.UnsupportedOperation: a stream with no descriptor)
        return False


class CatBar:
    """`shipper cat`: bytes of the input files (compressed bytes for .gz) and events parsed."""

    def __init__(self, progress: Progress, total: int | None):
        self._p = progress
        self._task = progress.add_task("parsing", total=total, events=0)
        self._events = 0

    def advance(self, nbytes: int, events: int) -> None:
        self._events += events
        self._p.update(self._task, advance=nbytes, events=self._events)

    def describe(self, text: str) -> None:
        self._p.update(self._task, description=text)


def _pending_bytes(runner) -> int:
    """What a source has left to read now, as it says (Source.pending_bytes); 0 if it cannot say."""
    try:
        return max(0, runner.source.pending_bytes() or 0)
    except Exception:  # a plugin's guess must not stop the run
        return 0


class RunBar:
    """`shipper run --once`: bytes read by the pipeline's sources against what was pending at start."""

    def __init__(self, progress: Progress, pipeline):
        self._p = progress
        self.pipeline = pipeline
        self._base_bytes = self._bytes_read()
        self._base_events = totals(pipeline)[0]
        total = sum(_pending_bytes(r) for r in pipeline.runners.values())
        self._task = progress.add_task("shipping", total=total or None, events=0)
        self._last = 0.0

    def _bytes_read(self) -> float:
        return sum(c.bytes_read.value for c in self.pipeline.source_counts())

    def update(self) -> None:
        now = time.monotonic()
        if now - self._last < 0.1:
            return
        self._last = now
        self._p.update(self._task, completed=self._bytes_read() - self._base_bytes,
                       events=int(totals(self.pipeline)[0] - self._base_events))


@contextmanager
def shown(stream) -> Iterator[Progress]:
    """A bar's Progress on `stream`, the shipper logger's lines printed above it meanwhile."""
    console = Console(file=stream)
    with _progress(console) as prog, _logs_through(console, stream):
        yield prog
