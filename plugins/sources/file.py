"""`type: file` — follows log files through rotation (Log4j 1.2/2, logrotate) and restarts, and
emits complete lines with keys stable across renames: the tailing itself is shipper.tail."""
from __future__ import annotations

import codecs
import threading
import time
from typing import Literal

from pydantic import Field, field_validator

from shipper import metrics
from shipper.config_base import SourceConfig
from shipper.plugin import RawBatch, Source
from shipper.tail import Chunk, Tailer, discovery
from shipper.tail.watcher import ChangeWatcher

STOP_CHECK = 0.5


class FileSourceConfig(SourceConfig):
    type: Literal["file"] = "file"
    paths: list[str] = Field(min_length=1)  # globs, ** allowed; rotated names of each are followed too
    exclude: list[str] = []  # globs on the full path or the file name
    read_from: Literal["beginning", "end"] = "beginning"  # for a path never seen before
    max_line_bytes: int = Field(default=1024 * 1024, ge=64)  # longer lines are cut, flagged _line_truncated
    close_inactive: float = Field(default=300.0, gt=0)  # seconds: idle files give back their descriptor
    poll_interval: float = Field(default=1.0, gt=0)  # seconds between scans without inotify events
    # Seconds to wait after a change notification before reading, so that one read takes the
    # lines of many writes (each Log4j line is a write and a wake-up): CPU per line against
    # latency. 0 reads at once. Never delays `--once`.
    gather_interval: float = Field(default=0.05, ge=0, le=10.0)
    encoding: str = "utf-8"  # of the files; lines are handed on as UTF-8

    @field_validator("encoding")
    @classmethod
    def _encoding(cls, v: str) -> str:
        try:
            info = codecs.lookup(v)
        except LookupError:
            raise ValueError(f"unknown encoding {v!r}")
        if "\n".encode(info.name) != b"\n":
            # Lines are found by their b"\n" byte: UTF-16/32 files cannot be split that way.
            raise ValueError(f"encoding {v!r} does not write a newline as the byte 0x0a; not supported")
        return info.name


class FileSource(Source):
    Config = FileSourceConfig

    def __init__(self, config: FileSourceConfig, ctx):
        super().__init__(config, ctx)
        self.base_dir = ctx.extra.get("base_dir", ".")
        log = ctx.logger
        name = config.name
        self._m_lost = metrics.bytes_lost.labels(name)
        self._m_losses = metrics.losses.labels(name)
        self._m_rot = metrics.rotations.labels(name)
        self._m_cut = metrics.lines_truncated.labels(name)
        self._lag_paths: set[str] = set()
        self._lock = threading.Lock()
        self.tailer = Tailer(
            config.paths, config.exclude, self.base_dir, dict(ctx.state),
            read_from=config.read_from, max_line_bytes=config.max_line_bytes,
            close_inactive=config.close_inactive, batch_lines=config.batch_size, logger=log,
            on_loss=self._count_loss, on_rotation=self._m_rot.inc,
            on_cut=self._m_cut.inc,
        )
        self._transcode = config.encoding not in ("utf-8", "ascii")

    def _count_loss(self, path: str, nbytes: int) -> None:
        # A loss of unknown size counts 0 bytes, so it needs its own counter to be seen.
        self._m_losses.inc()
        self._m_lost.inc(nbytes)

    def describe(self) -> list[str]:
        lines = []
        for path in discovery.expand(self.config.paths, self.config.exclude, self.base_dir):
            backups = sorted(discovery.rotated_siblings(path))
            lines.append(path + (f"  (+{len(backups)} rotated: {', '.join(b.rsplit('/', 1)[-1] for b in backups)})"
                                 if backups else ""))
        return lines

    def status(self) -> dict:
        files = self.tailer.status()  # a snapshot; no lock, so it answers during backpressure
        return {"files": files, "lag_bytes": sum(f["lag"] for f in files),
                "bytes_lost": self.tailer.bytes_lost, "losses": self.tailer.losses, "rotations": self.tailer.rotations}

    def _emit(self, chunk: Chunk) -> None:
        records = chunk.records
        if self._transcode and records:
            enc = self.config.encoding
            records = [r.decode(enc, "replace").encode("utf-8") for r in records]
        meta = {"log": {"file": {"path": chunk.path}}} if chunk.path else None
        self.ctx.emit(RawBatch(records, chunk.keys, chunk.checkpoint, chunk.nbytes, meta, chunk.flags))

    def _update_lag(self) -> None:
        paths = set()
        for f in self.tailer.status():
            metrics.lag_bytes.labels(self.config.name, f["path"]).set(f["lag"])
            paths.add(f["path"])
        for gone in self._lag_paths - paths:
            try:
                metrics.lag_bytes.remove(self.config.name, gone)
            except KeyError:
                pass
        self._lag_paths = paths

    def run(self) -> None:
        """Follow: a full pass (scan, read every file) every poll_interval and whenever the
        watcher saw a file created, renamed or deleted; in between, after the gather window,
        read only the files the watcher saw written to."""
        stop = self.ctx.stop
        t = self.tailer
        if self.ctx.once:
            self._run_once()
            return
        roots = discovery.watch_roots(self.config.paths, self.base_dir)
        watcher = ChangeWatcher(roots, gather=self.config.gather_interval)
        watcher.start()
        next_poll = 0.0
        scan_now = True
        changes = None  # what the watcher reported while we waited; the first pass scans anyway
        try:
            while not stop.is_set():
                now = time.monotonic()
                poll = now >= next_poll
                if poll or scan_now:
                    with self._lock:
                        t.scan()
                        t.read_all(self._emit, stop)
                        if poll:
                            t.close_idle()
                            self._update_lag()
                        watcher.watch_folders(t.folders())
                    if poll:
                        next_poll = now + self.config.poll_interval
                    scan_now = False
                elif changes is not None and changes.paths:
                    with self._lock:
                        scan_now = t.read_changed(changes.paths, self._emit, stop)
                    if scan_now:
                        continue
                if stop.is_set():
                    break
                # At most STOP_CHECK asleep: a stop is seen that soon even with a long poll_interval.
                changes = watcher.wait(min(STOP_CHECK, next_poll - time.monotonic()))
                scan_now = changes.structure
        finally:
            watcher.stop()

    def _run_once(self) -> None:
        """Read everything there is now, rotated backups included; return when a scan finds
        nothing new (and files missing since the start have had time to be declared gone)."""
        t = self.tailer
        started = time.monotonic()
        scans = 0
        while not self.ctx.stop.is_set():
            with self._lock:
                t.scan()
                scans += 1
                got = t.read_all(self._emit, self.ctx.stop)
            settled = scans >= 2 and time.monotonic() - started >= 1.0
            if not got and settled and not any(lo.gone_at is None for lo in t.loose.values()):
                break
            if not got and settled and scans > 6:
                break
            if not got:
                self.ctx.stop.wait(0.25)
        with self._lock:
            t.flush(self._emit)
            self._update_lag()

    def close(self) -> None:
        self.tailer.close()
