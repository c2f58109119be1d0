"""Forward protocol v1 chunks with at-least-once acks, on top of fluent-logger's FluentSender.

fluent-logger gives us the connection handling (TCP and `unix://` sockets, full writes, clean close)
and `EventTime`, but it only sends Message-mode packets and throws away whatever the server writes
back (`_check_recv_side` reads and discards). The at-least-once mode of the protocol needs a
PackedForward message carrying an option `chunk` and a read of the server's `{"ack": chunk}`
answer, so this subclass adds exactly that and nothing more.
"""
from __future__ import annotations

import base64
import gzip
import os
import ssl

import msgpack
from fluent.sender import EventTime, FluentSender

from shipper_plugins.outputs.fluentd_handshake import Credentials, handshake
from shipper_plugins.outputs.fluentd_socket import read_message

__all__ = ["AckError", "ForwardConnection", "EventTime", "event_time_ns", "pack_entry", "new_chunk_id"]


class AckError(OSError):
    """The server did not acknowledge a chunk (timeout, closed connection, wrong answer)."""


def new_chunk_id() -> str:
    # The spec asks for a unique id per chunk, base64 of 128 random bits (what out_forward sends).
    return base64.b64encode(os.urandom(16)).decode()


def event_time_ns(ts: object, fallback_ns: int) -> int:
    """Nanoseconds since the epoch from an ECS `@timestamp` (ISO 8601, up to 9 fraction digits)."""
    if not isinstance(ts, str) or len(ts) < 19:
        return fallback_ns
    from datetime import datetime

    s = ts.replace("z", "Z")
    frac_ns = 0
    dot = s.find(".", 19)
    if dot != -1:
        end = dot + 1
        while end < len(s) and s[end].isdigit():
            end += 1
        digits = s[dot + 1:end]
        frac_ns = int((digits + "000000000")[:9]) if digits else 0
        s = s[:dot] + s[end:]
    try:
        dt = datetime.fromisoformat(s)
    except ValueError:
        return fallback_ns
    if dt.tzinfo is None:  # ECS @timestamp is UTC; a naive value is read as UTC too
        from datetime import timezone

        dt = dt.replace(tzinfo=timezone.utc)
    return int(dt.timestamp()) * 1_000_000_000 + frac_ns


def pack_entry(time_ns: int, record: dict) -> bytes:
    """One `[EventTime, record]` entry of a PackedForward stream (nanosecond precision)."""
    return msgpack.packb([EventTime.from_unix_nano(time_ns), record], default=str)


class ForwardConnection(FluentSender):
    """One persistent connection to one Fluentd; `send_chunk` returns once the chunk is acked.
    With `tls` (an SSLContext) the connection is TLS; with `creds` it starts with the handshake
    (shipper_plugins.outputs.fluentd_handshake)."""

    def __init__(self, host: str, port: int, timeout: float, tls: ssl.SSLContext | None = None,
                 tls_server_name: str | None = None, creds: Credentials | None = None):
        super().__init__("", host=host, port=port, timeout=timeout)
        self.tls = tls
        self.tls_server_name = tls_server_name or host
        self.creds = creds

    @property
    def connected(self) -> bool:
        return self.socket is not None

    def connect(self) -> None:
        self._reconnect()

    def _reconnect(self):
        if self.socket:
            return
        super()._reconnect()  # fluent-logger's TCP or unix connect
        try:
            if self.tls is not None:
                self.socket = self.tls.wrap_socket(self.socket, server_hostname=self.tls_server_name)
            if self.creds is not None:
                handshake(self.socket, self.creds, self.timeout)
        except BaseException:
            self._close()
            raise

    def _check_recv_side(self):
        # The base class reads and discards incoming bytes; with acks on, those bytes are our
        # acks. We read the answer explicitly in `_read_ack`, so the check is off.
        return None

    def send_chunk(self, tag: str, entries: bytes, count: int, *, require_ack: bool,
                   ack_timeout: float, compress: bool) -> None:
        """Send `entries` (concatenated packed entries) as one PackedForward (or
        CompressedPackedForward) message. Raises OSError (AckError included) if not delivered;
        the connection is then closed, and the caller sends the chunk again."""
        option: dict = {"size": count}
        if compress:
            entries = gzip.compress(entries, compresslevel=1)
            option["compressed"] = "gzip"
        chunk = new_chunk_id() if require_ack else None
        if chunk:
            option["chunk"] = chunk
        message = msgpack.packb([tag, entries, option], use_bin_type=True)
        try:
            self._send_data(message)
            if chunk:
                self._read_ack(chunk, ack_timeout)
        except OSError:
            self._close()
            raise
        except Exception as e:  # msgpack errors on a garbled answer: same as a broken peer
            self._close()
            raise AckError(f"bad answer from server: {e}") from e

    def _read_ack(self, chunk: str, ack_timeout: float) -> None:
        unpacker = msgpack.Unpacker(raw=False, max_buffer_size=1 << 20)
        answer = read_message(self.socket, unpacker, ack_timeout, AckError, "ack")
        if not (isinstance(answer, dict) and answer.get("ack") == chunk):
            # An ack for another chunk cannot happen on a connection with one chunk in
            # flight: the stream is out of step, so drop it and resend.
            raise AckError(f"unexpected answer {answer!r:.100}")

    def close_now(self) -> None:
        with self.lock:
            self._close()
