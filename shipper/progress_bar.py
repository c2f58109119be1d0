"""The progress bars themselves (rich), on stderr when it is a terminal: imported by shipper.progress only
then, so a run whose stderr is a file or a pipe does not import rich (~27 ms of CPU at every start).

A terminal whose output is suspended (Ctrl-S) or whose ssh link stalls must not hold the run: the bar's frames
are written through a non-blocking descriptor of their own and dropped while the terminal takes nothing (a later
frame draws the bar anew), and the journal's lines shown above the bar go to the journal's own stream meanwhile,
which holds them (shipper.journal_pipe). Written blocking, the bar held `run --once`: nothing shipped, and a
SIGTERM did not end it (exam29a)."""
from __future__ import annotations

import errno
import io
import os
import time
from contextlib import contextmanager
from typing import Iterator, TextIO, cast

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, ProgressColumn, TextColumn, TimeElapsedColumn
from rich.text import Text

from shipper.rates import totals
from shipper.unstalled import nonblocking_writer


class EventsPerSecond(ProgressColumn):
    def render(self, task) -> Text:
        elapsed = task.elapsed or 0.0
        events = task.fields.get("events", 0)
        rate = events / elapsed if elapsed > 0 else 0.0
        return Text(f"{events} events, {rate:,.0f} events/s", style="progress.data.speed")


def _progress(console: Console) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(binary_units=True),
                    EventsPerSecond(), TimeElapsedColumn(), console=console, transient=False)


class _TerminalWrites(io.TextIOBase):
    """The bar console's file: a terminal written through a non-blocking descriptor of its own (/proc/self/fd/N opened
    again, so the descriptor the shell shares keeps its flags). What the terminal does not take of a write is kept
    and sent first at the next one (never half an escape sequence); writes that come while it is kept are dropped
    (a bar's frames: the next draws the bar whole)."""

    def __init__(self, stream, fd: int):
        super().__init__()
        self._stream = stream
        self._fd = fd
        self._rest = b""

    @property
    def stalled(self) -> bool:
        """Whether the terminal has not taken all of what was written to it."""
        return bool(self._rest)

    @property
    def encoding(self) -> str:  # type: ignore[override]  # (rich asks its file's)
        return getattr(self._stream, "encoding", None) or "utf-8"

    def isatty(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._stream.fileno()

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if self._rest:
            self._rest = self._sent(self._rest)
            if self._rest:
                return len(text)  # (a frame: dropped)
        self._rest = self._sent(text.encode(self.encoding, errors="replace"))
        return len(text)

    def _sent(self, data: bytes) -> bytes:
        """What the terminal did not take of `data`. A terminal gone (EIO: hung up) takes nothing more: the
        run's own handling of the hang-up ends it."""
        while data:
            try:
                data = data[os.write(self._fd, data):]
            except BlockingIOError:
                return data
            except OSError as e:
                if e.errno in (errno.EIO, errno.EPIPE):
                    return b""
                raise
        return data

    def close(self) -> None:
        os.close(self._fd)
        super().close()


def _terminal_writes(stream) -> _TerminalWrites | None:
    """`stream` written through a non-blocking descriptor of its own, or None when one cannot be opened."""
    try:
        fd = nonblocking_writer(stream.fileno())
    except (OSError, ValueError, AttributeError):  # (no /proc; a stream with no descriptor)
        return None
    return _TerminalWrites(stream, fd)


class _ConsoleStream:
    """A text stream for logging.StreamHandler that prints whole lines through a rich console — or, while the
    console's terminal takes nothing, to the handler's own stream (`own`, which holds what it cannot write)."""

    def __init__(self, console: Console, own):
        self.console = console
        self.own = own
        self._buf = ""

    def write(self, text: str) -> int:
        self._buf += text
        while "\n" in self._buf:
            line, self._buf = self._buf.split("\n", 1)
            if getattr(self.console.file, "stalled", False):
                self.own.write(line + "\n")
            else:
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
    for h, own in moved:
        h.setStream(_ConsoleStream(console, own))
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
    terminal = _terminal_writes(stream)
    console = Console(file=stream if terminal is None else cast(TextIO, terminal))
    try:
        with _progress(console) as prog, _logs_through(console, stream):
            yield prog
    finally:
        if terminal is not None:
            terminal.close()
