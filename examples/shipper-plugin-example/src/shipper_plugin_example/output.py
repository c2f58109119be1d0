"""`type: acme_archive` — every event as one JSON line appended to a file, fsynced per batch.

An archive for auditors: it must never hold a line twice or a torn line. A batch is appended with
the file's end noted first; a write that fails part-way (disk full, I/O error, the folder gone) cuts
the file back to that end before the batch is tried again, so the retry writes it whole, once.
Transient failures are retried with backoff for as long as the agent runs (`trouble` says what is
wrong meanwhile); under `shipper run --once` for `once_retry_seconds`, then the run ends (exit 1) and
the batch, not acknowledged, is read again by the next run.
"""
from __future__ import annotations

import os
import time
from typing import Literal

from pydantic import Field

from shipper.api import (
    Batch,
    ConfigPath,
    EndRun,
    Output,
    OutputConfig,
    OutputContext,
    Stopping,
    Throttled,
    serialize_event,
)

BACKOFF_FIRST = 0.5  # seconds before the second attempt, doubling
BACKOFF_MAX = 30.0


class AcmeArchiveConfig(OutputConfig):
    type: Literal["acme_archive"] = "acme_archive"
    path: ConfigPath = Field(description="the archive file (relative: to the config's folder); created if missing")
    fsync: bool = True  # a batch counts as delivered once it is on disk, not only in the page cache
    once_retry_seconds: float = Field(default=10.0, ge=0)  # `run --once`: how long a failing write is retried


class AcmeArchiveOutput(Output):
    Config = AcmeArchiveConfig
    config: AcmeArchiveConfig
    takes_lines = True  # send() writes batch.lines when they are there, never decoding them

    def __init__(self, config: AcmeArchiveConfig, ctx: OutputContext):
        super().__init__(config, ctx)
        self._failures = Throttled(ctx.logger)  # one line when it starts failing, a summary a minute

    def describe(self) -> str:
        return f"acme_archive {self.config.path} (fsync {'on' if self.config.fsync else 'off'})"

    def probe(self) -> str:
        folder = os.path.dirname(self.config.path) or "."
        if not os.path.isdir(folder):
            raise OSError(f"folder {folder} does not exist")
        if not os.access(folder, os.W_OK):
            raise PermissionError(f"folder {folder} is not writable")
        return f"{self.config.path}: folder writable"

    def send(self, batch: Batch) -> None:
        # From parse workers the events arrive serialised: written as they are, never decoded.
        data = batch.lines if batch.lines is not None else b"".join(serialize_event(ev) for ev in batch.events)
        delay, started = BACKOFF_FIRST, time.monotonic()
        while True:
            try:
                self._append(data)
            except OSError as e:
                self.trouble = f"cannot append to {self.config.path}: {e.strerror or e}"
                self._failures.failure(self.trouble, output=self.ctx.name)
                if self.ctx.once and time.monotonic() - started >= self.config.once_retry_seconds:
                    raise EndRun(f"output {self.ctx.name}: {self.trouble}") from e
                if self.ctx.stop.wait(delay):
                    raise Stopping() from e
                delay = min(delay * 2, BACKOFF_MAX)
                continue
            if self.trouble is not None:
                self.trouble = None
                self._failures.recovered("archive writable again", output=self.ctx.name)
            return

    def _append(self, data: bytes) -> None:
        fd = os.open(self.config.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
        try:
            start = os.lseek(fd, 0, os.SEEK_END)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
                if self.config.fsync:
                    os.fsync(fd)
            except OSError:
                os.ftruncate(fd, start)  # no torn batch left behind: the retry writes it whole
                raise
        finally:
            os.close(fd)
