"""`type: fluentd` — Forward protocol v1 to one Fluentd or a tier of aggregators, acked chunks.

Each chunk is a PackedForward message with option `chunk`; it counts as delivered only when the
server answers `{"ack": chunk}` (with `require_ack: true`, the default over TCP). No ack within
`ack_timeout`, a refused or dropped connection: the chunk goes again, to the same or another
server, with backoff. So the only duplicates are chunks that were stored but never acked, and each
record carries its stable id (`id_field`) so a Fluentd → Elasticsearch tier can drop those.

Fluentd's in_unix (`socket`) never answers acks and cannot read CompressedPackedForward, so a unix
socket goes without the `chunk` option, a chunk counts as delivered once in_unix has read it off the
socket (the kernel's count of unread bytes, see ForwardConnection), and `compress` is refused.
A refusal by the server (wrong shared key or password, a certificate that does not verify, a TLS-only
in_forward reached without `tls: true`, a plain one with it) is raised to the core as PermanentRefusal
once every server refuses; outages are retried here.
"""
from __future__ import annotations

import logging
import socket
import ssl
import time
from typing import Literal

from pydantic import Field, field_validator, model_validator

from shipper.api import (
    WAIT_MAX,
    Batch,
    ConfigPath,
    Output,
    OutputConfig,
    PermanentRefusal,
    RegularFile,
    SecretError,
    Stopping,
    StrictModel,
    Throttled,
    metrics,
    read_secret,
)
from shipper_plugins.outputs.fluentd_forward import (
    NEEDS_KEY,
    PLAIN_NOT_TLS,
    TLS_NEEDED,
    AckAfterNamed,
    AckError,
    ClosedBeforeAck,
    ForwardConnection,
    StaleConnection,
    TlsHandshakeCut,
    WrongAnswer,
    event_time_ns,
    may_be_tls_server,
    pack_entry,
    plain_forward_server,
    tls_only_server,
)
from shipper_plugins.outputs.fluentd_handshake import Credentials, HandshakeError, HandshakeRefused
from shipper_plugins.outputs.fluentd_servers import ServerPool
from shipper_plugins.outputs.id_field import refuse_ecs_field

log = logging.getLogger("shipper.output.fluentd")


def _host_name(v: str | None) -> str | None:
    """A host name or address; `user:password@host` is no form of it, and must not be shown back."""
    if v is not None and any(c in v for c in "@/ \t\r\n"):
        raise ValueError("a host name or IP address (no user:password@, no scheme, no path)")
    return v


class FluentdServer(StrictModel):
    host: str = "127.0.0.1"
    port: int = Field(default=24224, ge=1, le=65535)
    socket: ConfigPath | None = None  # a unix socket path instead of host/port
    weight: int = Field(default=60, ge=0)  # out_forward's default weight
    standby: bool = False

    @field_validator("host")
    @classmethod
    def _host(cls, v: str | None) -> str | None:
        return _host_name(v)


class FluentdOutputConfig(OutputConfig):
    type: Literal["fluentd"] = "fluentd"
    delivery_settings = frozenset({"batch_size", "batch_bytes", "flush_interval", "compress", "timeout", "backoff_base",
                                   "backoff_max", "heartbeat_interval", "ack_timeout", "refused_retry"})
    host: str | None = None
    port: int = Field(default=24224, ge=1, le=65535)
    socket: ConfigPath | None = None  # unix socket path
    servers: list[FluentdServer] = []
    tag_prefix: str = ""  # "fluent" + tag "audit.x" → "fluent.audit.x"
    # Default: true over TCP; false for unix sockets (in_unix never acks), where true is refused.
    require_ack: bool | None = None
    # Each record carries the event's stable id under this key (null: none), for fluent-plugin-
    # elasticsearch's `id_key` downstream; not an ECS field, and not `_id`, which Elasticsearch
    # refuses inside a document.
    id_field: str | None = Field(default="_shipper_id", min_length=1)
    # How long a server that refused us (wrong key or password, a certificate that does not
    # verify) is left alone while other servers can take the chunks.
    refused_retry: float = Field(default=300.0, gt=0, le=WAIT_MAX)
    ack_timeout: float = Field(default=30.0, gt=0, le=WAIT_MAX)
    batch_size: int = Field(default=1000, ge=1)  # events per chunk
    batch_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)  # packed bytes per chunk
    flush_interval: float = Field(default=1.0, ge=0)  # longest a partial chunk waits for more events
    compress: bool = False  # CompressedPackedForward (gzip)
    timeout: float = Field(default=10.0, gt=0)  # connect and write timeout
    backoff_base: float = Field(default=0.5, gt=0, le=WAIT_MAX)
    backoff_max: float = Field(default=30.0, gt=0, le=WAIT_MAX)
    heartbeat_interval: float = Field(default=1.0, gt=0, le=WAIT_MAX)
    # in_forward's <transport tls>: the server's certificate is verified against tls_ca_file (else the
    # system's CAs) and the name tls_server_name (else the host); a client certificate if it asks one.
    tls: bool = False
    tls_ca_file: RegularFile | None = None
    tls_verify: bool = True
    tls_cert_file: RegularFile | None = None
    tls_key_file: RegularFile | None = None
    tls_server_name: str | None = None
    # in_forward's <security>: the shared key (and a user, if it has <user> sections) for the
    # HELO/PING/PONG handshake on every connection. Secrets come from files, never from here.
    shared_key_file: str | None = None
    self_hostname: str | None = None  # default: this host's name
    username: str | None = None
    password_file: str | None = None

    @field_validator("host")
    @classmethod
    def _host(cls, v: str | None) -> str | None:
        return _host_name(v)

    @field_validator("id_field")
    @classmethod
    def _id_field_is_no_ecs_field(cls, v: str | None) -> str | None:
        return refuse_ecs_field(v)

    @model_validator(mode="after")
    def _one_way_to_connect(self):
        given = [k for k in ("host", "socket") if getattr(self, k)] + (["servers"] if self.servers else [])
        if len(given) > 1:
            raise ValueError(f"give one of host/port, socket or servers, not {' and '.join(given)}")
        if self.servers and not any(s.weight > 0 and not s.standby for s in self.servers):
            raise ValueError("servers: at least one server must be a primary (standby: false) with weight > 0")
        tls_keys = [k for k in ("tls_ca_file", "tls_cert_file", "tls_key_file", "tls_server_name") if getattr(self, k)]
        if tls_keys and not self.tls:
            raise ValueError(f"{', '.join(tls_keys)} given without tls: true")
        sockets = bool(self.socket) or any(s.socket for s in self.servers)
        only_sockets = bool(self.socket) or (bool(self.servers) and all(s.socket for s in self.servers))
        if self.require_ack is None:
            self.require_ack = not only_sockets  # a TCP server among sockets keeps acks: refused below
        if self.tls and sockets:
            raise ValueError("tls is for TCP servers, not unix sockets")
        if sockets and self.require_ack:
            raise ValueError("require_ack: true cannot work with a unix socket: Fluentd's in_unix never answers "
                             "acks, so every chunk would be sent again forever; set require_ack: false (a chunk "
                             "then counts as delivered once Fluentd has read it off the socket) or use in_forward "
                             "over TCP")
        if sockets and self.compress:
            raise ValueError("compress: true cannot work with a unix socket: Fluentd's in_unix cannot read "
                             "CompressedPackedForward and drops such chunks, storing nothing; remove compress")
        if sockets and self.shared_key_file:
            raise ValueError("shared_key_file is for in_forward over TCP: in_unix has no <security> handshake")
        if bool(self.tls_cert_file) != bool(self.tls_key_file):
            raise ValueError("a client certificate needs both tls_cert_file and tls_key_file")
        if (self.username is None) != (self.password_file is None):
            raise ValueError("username and password_file go together")
        if self.username is not None and not self.shared_key_file:
            raise ValueError("username needs shared_key_file (the user logs in during the shared-key handshake)")
        # A missing secret is a config error (file, line, key) now, not a retry loop at start.
        for key, what in (("shared_key_file", "shared key"), ("password_file", "password")):
            try:
                read_secret(getattr(self, key), None, what)
            except SecretError as e:
                raise ValueError(str(e)) from None
        return self

    def connection_options(self) -> dict:
        """TLS context and handshake credentials for every connection (secrets read here)."""
        opts: dict = {}
        if self.tls:
            ctx = ssl.create_default_context(cafile=self.tls_ca_file)
            if not self.tls_verify:
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            if self.tls_cert_file:
                ctx.load_cert_chain(self.tls_cert_file, self.tls_key_file)
            opts.update(tls=ctx, tls_server_name=self.tls_server_name)
        if self.shared_key_file:
            opts["creds"] = self.credentials()
        return opts

    def credentials(self) -> Credentials:
        """The handshake's shared key and login, read from their files now (SecretError if unreadable)."""
        key = read_secret(self.shared_key_file, None, "shared key")
        if key is None:
            raise SecretError("no shared_key_file is set: there is no shared key to read")
        return Credentials(key,
                           self.self_hostname or socket.gethostname(), self.username or "",
                           read_secret(self.password_file, None, "password") or "")

    def server_list(self) -> list[tuple[str, int, int, bool]]:
        if self.servers:
            return [(f"unix://{s.socket}" if s.socket else s.host, s.port, s.weight, s.standby) for s in self.servers]
        if self.socket:
            return [(f"unix://{self.socket}", 0, 1, False)]
        return [(self.host or "127.0.0.1", self.port, 1, False)]


class FluentdOutput(Output):
    Config = FluentdOutputConfig
    config: FluentdOutputConfig
    # Fluentd's buffered outputs flush chunks as they fill and retry a failed one after later ones went
    # (out_file and fluent-plugin-elasticsearch alike): what it stores has no order to judge.
    stores_in_order = False

    @classmethod
    def descriptors_for(cls, config: OutputConfig) -> int:
        """A connection to each server, and the heartbeat's probe where there are several."""
        assert isinstance(config, FluentdOutputConfig)
        return 1 if not config.servers else len(config.servers) + (len(config.servers) > 1)

    def __init__(self, config: FluentdOutputConfig, ctx):
        super().__init__(config, ctx)
        self.pool = ServerPool(config.server_list(), config.timeout, config.backoff_base,
                               config.backoff_max, config.heartbeat_interval, **config.connection_options())
        self.coalesce = (config.batch_size, config.flush_interval)  # read by the output worker
        self._trouble = Throttled(log)
        self.trouble: str | None = None  # the current delivery problem, for /health; None when delivering
        self._id_clash_logged = False
        name = ctx.name
        self._m_errors = metrics.output_errors.labels(name)
        self._m_retries = metrics.output_retries.labels(name)

    def describe(self) -> str:
        cfg = self.config
        ack = "acked chunks" if cfg.require_ack else (
            "no acks (a chunk counts once Fluentd has read it)" if self.pool.servers[0].host.startswith("unix://")
            else "no acks (a chunk written counts as delivered: at most once on failures)")
        secured = " + ".join(name for name, on in (("TLS", cfg.tls), ("shared key", cfg.shared_key_file)) if on)
        return f"fluentd forward to {', '.join(s.label for s in self.pool.servers)}, {ack}" + (f", {secured}" if secured else "")

    def start(self) -> None:
        self.pool.start()

    def close(self) -> None:
        for server in self.pool.servers:
            # A stop or a reload closes the output while a chunk, written whole, waits for its ack: the server may
            # store it (a paused Fluentd's kernel took it), and it is sent again. Named here unless the sending
            # thread, failing at the same moment, named it first (take_unacked gives it to one of the two).
            if events := server.conn.take_unacked():
                log.warning(f"fluentd output closed while a chunk of {events} events waited for its ack: the server "
                            f"may have stored the chunk, and it is sent again (a possible repeat of {events} events)",
                            extra={"output": self.ctx.name, "server": server.label, "events": events})
        self.pool.close()

    def in_flight(self) -> str | None:
        """The chunks written whole that wait for their acks (each named once: take_unacked)."""
        waiting = [(server.label, events) for server in self.pool.servers if (events := server.conn.take_unacked())]
        if not waiting:
            return None
        return "; ".join(f"a chunk of {events} events written whole to {label}, waiting for its ack"
                         for label, events in waiting)

    def send(self, batch: Batch) -> None:
        self.send_many([batch])

    def send_many(self, batches: list[Batch]) -> None:
        """Deliver every event of `batches`, in chunks of at most batch_size events / batch_bytes. Each
        chunk acknowledged is told to the agent (ctx.stored): a stop or a reload cutting the send short
        then re-sends only the chunks not acknowledged, not the whole batch."""
        cfg = self.config
        now_ns = time.time_ns()
        for tag, entries in self._entries_by_tag(batches, now_ns):
            chunk: list[bytes] = []
            origins: list[tuple[Batch, int]] = []  # (batch, position) of each of the chunk's events
            size = 0
            for e, origin in entries:
                if chunk and (len(chunk) >= cfg.batch_size or size + len(e) > cfg.batch_bytes):
                    self._deliver_told(tag, chunk, origins)
                    chunk, origins, size = [], [], 0
                chunk.append(e)
                origins.append(origin)
                size += len(e)
            if chunk:
                self._deliver_told(tag, chunk, origins)

    def _deliver_told(self, tag: str, chunk: list[bytes], origins: list[tuple[Batch, int]]) -> None:
        self._deliver(tag, chunk)
        by_batch: dict[int, tuple[Batch, list[int]]] = {}
        for batch, i in origins:
            by_batch.setdefault(id(batch), (batch, []))[1].append(i)
        for batch, positions in by_batch.values():
            self.ctx.stored(batch, positions)

    def _entries_by_tag(self, batches: list[Batch], now_ns: int):
        """Per tag, the packed entries with the (batch, position) each comes from."""
        # PackedForward carries one tag per message; batches keep their order within a tag.
        by_tag: dict[str, list[tuple[bytes, tuple[Batch, int]]]] = {}
        prefix = self.config.tag_prefix
        id_field = self.config.id_field
        for b in batches:
            tag = f"{prefix}.{b.tag}" if prefix else b.tag
            out = by_tag.setdefault(tag, [])
            # Events are shared with other outputs: never modified (a shallow copy carries the id).
            if id_field:
                out.extend((pack_entry(event_time_ns(ev.get("@timestamp"), now_ns), self._with_id(ev, id_field, id_)), (b, i))
                           for i, (ev, id_) in enumerate(zip(b.events, b.ids)))
            else:
                out.extend((pack_entry(event_time_ns(ev.get("@timestamp"), now_ns), ev), (b, i))
                           for i, ev in enumerate(b.events))
        return by_tag.items()

    def _with_id(self, ev: dict, id_field: str, id_: str) -> dict:
        if id_field not in ev:
            return {**ev, id_field: id_}
        # A field of the event's own (a product namespace): never overwritten; said once.
        if not self._id_clash_logged:
            self._id_clash_logged = True
            log.warning("id_field names a field the events already have: left as it is, so these records carry "
                        "no id; choose another id_field", extra={"output": self.ctx.name, "id_field": id_field})
        return ev

    def _deliver(self, tag: str, chunk: list[bytes]) -> None:
        cfg = self.config
        data = b"".join(chunk)
        attempt = 0
        unacked = 0  # ack timeouts or wrong answers in a row for this chunk
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
            if server.refused and self.config.shared_key_file:
                # Tried again after a refusal (a reload, or its backoff): the key and password files
                # are read again, so one fixed in place is used without a restart (unreadable: kept).
                try:
                    self.pool.set_credentials(self.config.credentials())
                except SecretError:
                    pass
            try:
                with server.lock:
                    server.conn.send_chunk(tag, data, len(chunk), require_ack=bool(cfg.require_ack),
                                           ack_timeout=cfg.ack_timeout, compress=cfg.compress)
            except StaleConnection as e:
                # The server closed a kept-alive connection (deny_keepalive): not an outage.
                log.debug("fluentd server had closed the connection; sending on a new one",
                          extra={"output": self.ctx.name, "server": server.label, "error": str(e)})
                continue
            except OSError as e:
                if self.ctx.stop.is_set():  # the stop closed the connection under us: not the server's doing
                    self.trouble = self.trouble or (
                        f"{server.label}: the chunk of {len(chunk)} events was acknowledged after the output's close "
                        f"had named it a possible repeat: it is sent again (that repeat)"
                        if isinstance(e, AckAfterNamed) else
                        f"{server.label}: the stop came while the chunk of {len(chunk)} events, written whole, "
                        "waited for its ack: the server may have stored the chunk, and it is sent again at the next "
                        f"start (a possible repeat of {len(chunk)} events)" if server.conn.awaiting_ack else
                        f"{server.label}: the stop came before the server took the chunk")
                    raise Stopping()
                reason = _refusal(e)
                if reason is None:
                    reason = self._wrong_protocol(server, e)
                self._m_errors.inc()
                wrong = isinstance(e, WrongAnswer)
                # in_forward sends HELO at once on accept when it has <security> (and PONG at once after
                # PING); none, again and again, is a server without it (or not a Fluentd), not a slow one.
                no_helo = type(e) is HandshakeError and str(e).startswith("no handshake answer within")
                # A server that takes each whole chunk and closes before its ack (a proxy's timeout,
                # a half-close) may store every resend: counted like no ack at all.
                cut = isinstance(e, ClosedBeforeAck)
                # The whole chunk went and no ack came: the server may have stored it.
                may_be_stored = wrong or cut or (isinstance(e, AckError) and str(e).startswith("no ack within"))
                unacked = unacked + 1 if may_be_stored or no_helo else 0
                if reason is None and unacked >= NO_ACK_REFUSAL:
                    # Each resend may be a duplicate stored again: after a few, this is a server that
                    # does not ack (in_unix behind a relay, a forward proxy, a broken peer), not a slow one.
                    unacked, reason = 0, (
                        f"{e}, {NO_ACK_REFUSAL} times in a row: the server never answers in_forward's <security> "
                        "handshake (no HELO or no PONG): remove shared_key_file if it has no <security> section"
                        if no_helo else
                        f"{e}, {NO_ACK_REFUSAL} times in a row: the server answers chunks with something that is "
                        "not their ack (each resend may be stored again); check it is a Fluentd in_forward"
                        if wrong else
                        f"{e}, {NO_ACK_REFUSAL} times in a row: the server (or a proxy before it) closes the "
                        "connection after taking each chunk, before its ack (each resend may be stored again); "
                        "check it is a Fluentd in_forward and the timeouts of what sits between"
                        if cut else
                        f"no ack within {cfg.ack_timeout:g}s, {NO_ACK_REFUSAL} times in a row: the "
                        "server takes chunks but does not answer them (each resend may be stored "
                        "again); check it is a Fluentd in_forward, or set require_ack: false")
                if reason is not None:
                    if may_be_stored:
                        # The copy that makes this a refusal may be stored too: named with its count as the others
                        # (the refusal says "each resend may be stored again" once, with no count: exam23 counted
                        # 1,000 events repeated and 870 named)
                        self._name_repeat(server, e)
                    self._refused(server, reason)
                    continue
                self.pool.failed(server)
                self.trouble = f"{server.label}: {e or type(e).__name__}"
                # Each resend that may be stored again is named, not summed up in the throttled count: an
                # auditor accounts for every possible copy (at most NO_ACK_REFUSAL in a row). The first of a run
                # goes through the throttled failure line, which says the possible repeat then (an ack that came
                # too late was said only as "no ack within 30s", and the soak counted its repeats unnamed); its
                # "still failing" summary does not say it again.
                named_apart = may_be_stored and self._trouble.failing
                repeat = 0  # the events the failure line names: taken, so close() does not name them again
                if named_apart:
                    self._name_repeat(server, e)
                elif may_be_stored:
                    repeat = server.conn.take_unacked()  # (0: close() named it, from a stop's or reload's thread)
                self._trouble.failure("fluentd delivery failed; the chunk will be sent again" + (
                    f", and the server may have stored the chunk (a possible repeat of {repeat} events)"
                    if repeat else ""),
                    output=self.ctx.name, server=server.label, error=str(e) or type(e).__name__)
                continue
            self.pool.succeeded(server)
            self.trouble = None
            self._trouble.recovered("fluentd delivery recovered", output=self.ctx.name, server=server.label)
            return

    def _name_repeat(self, server, e: OSError) -> None:
        """A chunk written whole got no ack (`e`): the server may have stored it, and it goes again. Named once,
        with its count, unless close() named it first (take_unacked gives it to one of the two)."""
        events = server.conn.take_unacked()
        if not events:
            return
        log.warning("fluentd delivery failed again; the chunk will be sent again, and the server may have stored "
                    f"the chunk (a possible repeat of {events} events)",
                    extra={"output": self.ctx.name, "server": server.label, "events": events,
                           "error": str(e) or type(e).__name__})

    def _wrong_protocol(self, server, e: OSError) -> str | None:
        """A plain connection cut the way a TLS-only in_forward cuts it, or a TLS handshake a plain
        one never answers: ask once (until the server takes a chunk again) which protocol it speaks,
        so that this is named, not retried as an outage."""
        cfg = self.config
        if server.tls_probed or server.host.startswith("unix://"):
            return None
        if not cfg.tls and may_be_tls_server(e):
            server.tls_probed = True
            return TLS_NEEDED if tls_only_server(server.host, server.port, cfg.timeout) else None
        if cfg.tls and isinstance(e, TlsHandshakeCut):
            server.tls_probed = True
            return PLAIN_NOT_TLS if plain_forward_server(server.host, server.port, cfg.timeout) else None
        return None

    def _refused(self, server, reason: str) -> None:
        """A server said no. Others may take the chunk; when every server refuses, the core is told
        (PermanentRefusal: logged once, long backoff, shown in /health)."""
        new = server.refused != reason
        self.pool.refused(server, reason, self.config.refused_retry)
        self.trouble = f"{server.label}: {reason}"
        if new and not self.pool.all_refused():  # else the core logs it, once
            log.error("fluentd server refused us; it is left alone while others can take the chunks",
                      extra={"output": self.ctx.name, "server": server.label, "error": reason})
        if self.pool.all_refused():
            reasons = "; ".join(f"{s.label}: {s.refused}" for s in self.pool.servers if s.refused)
            self.pool.forget_refusals()
            raise PermanentRefusal(reasons)

    def probe(self) -> str:
        """For `shipper check --outputs`: connect to every server (TLS, handshake), send no event.
        Returns one line per server; raises OSError naming each server that failed and why."""
        cfg = self.config
        lines, failed = [], False
        for s in self.pool.servers:
            conn = ForwardConnection(s.host, s.port, cfg.timeout, **cfg.connection_options())
            plain_tcp = not cfg.tls and not s.host.startswith("unix://")
            try:
                conn.connect()
            except OSError as e:
                failed = True
                if plain_tcp and may_be_tls_server(e) and tls_only_server(s.host, s.port, cfg.timeout):
                    e = OSError(TLS_NEEDED)
                elif cfg.tls and isinstance(e, TlsHandshakeCut) and plain_forward_server(s.host, s.port, cfg.timeout):
                    e = OSError(PLAIN_NOT_TLS)
                lines.append(f"{s.label}: FAILED: {_refusal(e) or e or type(e).__name__}")
                continue
            if not cfg.shared_key_file and not s.host.startswith("unix://") \
                    and conn.greets_with_helo(min(cfg.timeout, 2.0)):
                conn.close_now()
                failed = True
                lines.append(f"{s.label}: FAILED: {NEEDS_KEY}")
                continue
            # A TLS-only in_forward says nothing to a plain client that says nothing: an empty chunk tells.
            if plain_tcp and not cfg.shared_key_file and tls_only_server(s.host, s.port, cfg.timeout):
                conn.close_now()
                failed = True
                lines.append(f"{s.label}: FAILED: {TLS_NEEDED}")
                continue
            # Something listens; whether it is a Forward server only an ack tells (`run` would refuse
            # a server whose answers are no acks; an HTTP port accepts the connection all the same).
            if plain_tcp and not cfg.shared_key_file and cfg.require_ack \
                    and not plain_forward_server(s.host, s.port, cfg.timeout):
                conn.close_now()
                failed = True
                lines.append(f"{s.label}: FAILED: {NO_FORWARD_ACK}")
                continue
            found = ["connected"]
            if isinstance(conn.socket, ssl.SSLSocket):
                found.append(f"{conn.socket.version()}, certificate verified" if cfg.tls_verify
                             else f"{conn.socket.version()}, certificate NOT verified (tls_verify: false)")
            if cfg.shared_key_file:
                found.append(f"shared-key handshake passed (server {conn.server_hostname!r}"
                             + (f", user {cfg.username!r}" if cfg.username else "")
                             + ("" if conn.server_keepalive else ", closes after each chunk") + ")")
            if not cfg.require_ack:
                found.append("no acks (unix socket)" if s.host.startswith("unix://") else "no acks (require_ack: false)")
            conn.close_now()
            lines.append(f"{s.label}: " + ", ".join(found))
        if failed:
            raise OSError("\n".join(lines))
        return "\n".join(lines)


NO_FORWARD_ACK = ("the server does not ack a Forward chunk (an empty one, which in_forward acks and stores "
                  "nothing of): is this port a Fluentd in_forward? (a server without acks: set require_ack: false)")
NO_ACK_REFUSAL = 3  # ack timeouts in a row for one chunk after which the server counts as refusing acks


def _refusal(e: OSError) -> str | None:
    """Why the server refused us, if it did; None for trouble a retry can fix (down, reset, timeout)."""
    if isinstance(e, HandshakeRefused):
        return str(e)
    if isinstance(e, ssl.SSLCertVerificationError):
        return f"TLS: the server's certificate does not verify: {e.verify_message or e} (check tls_ca_file, tls_server_name)"
    if type(e) is ssl.SSLError:  # a TLS alert or version mismatch; EOF/zero-return are plain closes
        return f"TLS refused: {e.reason or e} (is the server's <transport tls> on, and does it want a client certificate?)"
    return None
