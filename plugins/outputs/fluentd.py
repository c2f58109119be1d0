"""`type: fluentd` — Forward protocol v1 to one Fluentd or a tier of aggregators, acked chunks.

Each chunk is a PackedForward message with option `chunk`; it counts as delivered only when the
server answers `{"ack": chunk}` (with `require_ack: true`, the default). No ack within
`ack_timeout`, a refused or dropped connection: the chunk goes again, to the same or another
server, with backoff. So the only duplicates are chunks that were stored but never acked.
"""
from __future__ import annotations

import logging
import time
from typing import Literal

from pydantic import Field, model_validator

from shipper import metrics
from shipper.config_base import OutputConfig, StrictModel
from shipper.log import Throttled
from shipper.plugin import Batch, Output, Stopping
from shipper_plugins.outputs.fluentd_forward import event_time_ns, pack_entry
from shipper_plugins.outputs.fluentd_servers import ServerPool

log = logging.getLogger("shipper.output.fluentd")


class FluentdServer(StrictModel):
    host: str = "127.0.0.1"
    port: int = Field(default=24224, ge=1, le=65535)
    socket: str | None = None  # a unix socket path instead of host/port
    weight: int = Field(default=60, ge=0)  # out_forward's default weight
    standby: bool = False


class FluentdOutputConfig(OutputConfig):
    type: Literal["fluentd"] = "fluentd"
    host: str | None = None
    port: int = Field(default=24224, ge=1, le=65535)
    socket: str | None = None  # unix socket path
    servers: list[FluentdServer] = []
    tag_prefix: str = ""  # "fluent" + tag "audit.x" → "fluent.audit.x"
    require_ack: bool = True
    ack_timeout: float = Field(default=30.0, gt=0)
    batch_size: int = Field(default=1000, ge=1)  # events per chunk
    batch_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)  # packed bytes per chunk
    flush_interval: float = Field(default=1.0, ge=0)  # longest a partial chunk waits for more events
    compress: bool = False  # CompressedPackedForward (gzip)
    timeout: float = Field(default=10.0, gt=0)  # connect and write timeout
    backoff_base: float = Field(default=0.5, gt=0)
    backoff_max: float = Field(default=30.0, gt=0)
    heartbeat_interval: float = Field(default=1.0, gt=0)

    @model_validator(mode="after")
    def _one_way_to_connect(self):
        given = [k for k in ("host", "socket") if getattr(self, k)] + (["servers"] if self.servers else [])
        if len(given) > 1:
            raise ValueError(f"give one of host/port, socket or servers, not {' and '.join(given)}")
        if self.servers and not any(s.weight > 0 and not s.standby for s in self.servers):
            raise ValueError("servers: at least one server must be a primary (standby: false) with weight > 0")
        return self

    def server_list(self) -> list[tuple[str, int, int, bool]]:
        if self.servers:
            return [(f"unix://{s.socket}" if s.socket else s.host, s.port, s.weight, s.standby) for s in self.servers]
        if self.socket:
            return [(f"unix://{self.socket}", 0, 1, False)]
        return [(self.host or "127.0.0.1", self.port, 1, False)]


class FluentdOutput(Output):
    Config = FluentdOutputConfig

    def __init__(self, config: FluentdOutputConfig, ctx):
        super().__init__(config, ctx)
        self.pool = ServerPool(config.server_list(), config.timeout, config.backoff_base,
                               config.backoff_max, config.heartbeat_interval)
        self.coalesce = (config.batch_size, config.flush_interval)  # read by the output worker
        self._trouble = Throttled(log)
        name = ctx.name
        self._m_errors = metrics.output_errors.labels(name)
        self._m_retries = metrics.output_retries.labels(name)

    def describe(self) -> str:
        ack = "acked chunks" if self.config.require_ack else "no acks (at most once on failures)"
        return f"fluentd forward to {', '.join(s.label for s in self.pool.servers)}, {ack}"

    def start(self) -> None:
        self.pool.start()

    def close(self) -> None:
        self.pool.close()

    def send(self, batch: Batch) -> None:
        self.send_many([batch])

    def send_many(self, batches: list[Batch]) -> None:
        """Deliver every event of `batches`, in chunks of at most batch_size events / batch_bytes."""
        cfg = self.config
        now_ns = time.time_ns()
        for tag, entries in self._entries_by_tag(batches, now_ns):
            chunk: list[bytes] = []
            size = 0
            for e in entries:
                if chunk and (len(chunk) >= cfg.batch_size or size + len(e) > cfg.batch_bytes):
                    self._deliver(tag, chunk)
                    chunk, size = [], 0
                chunk.append(e)
                size += len(e)
            if chunk:
                self._deliver(tag, chunk)

    def _entries_by_tag(self, batches: list[Batch], now_ns: int):
        # PackedForward carries one tag per message; batches keep their order within a tag.
        by_tag: dict[str, list[bytes]] = {}
        prefix = self.config.tag_prefix
        for b in batches:
            tag = f"{prefix}.{b.tag}" if prefix else b.tag
            out = by_tag.setdefault(tag, [])
            # Events are shared with other outputs: packed as they are, never modified.
            out.extend(pack_entry(event_time_ns(ev.get("@timestamp"), now_ns), ev) for ev in b.events)
        return by_tag.items()

    def _deliver(self, tag: str, chunk: list[bytes]) -> None:
        cfg = self.config
        data = b"".join(chunk)
        attempt = 0
        while True:
            if self.ctx.stop.is_set():
                raise Stopping()
            server = self.pool.pick()
            if server is None:
                self.ctx.stop.wait(min(max(self.pool.next_retry_in(), 0.05), 1.0))
                continue
            if attempt:
                self._m_retries.inc()
            attempt += 1
            try:
                with server.lock:
                    server.conn.send_chunk(tag, data, len(chunk), require_ack=cfg.require_ack,
                                           ack_timeout=cfg.ack_timeout, compress=cfg.compress)
            except OSError as e:
                self._m_errors.inc()
                self.pool.failed(server)
                self._trouble.failure("fluentd delivery failed; the chunk will be sent again",
                                      output=self.ctx.name, server=server.label, error=str(e) or type(e).__name__)
                continue
            self.pool.succeeded(server)
            self._trouble.recovered("fluentd delivery recovered", output=self.ctx.name, server=server.label)
            return
