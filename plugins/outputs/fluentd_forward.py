"""Forward protocol v1 chunks with at-least-once acks, on top of fluent-logger's FluentSender.

fluent-logger gives us the connection handling (TCP and `unix://` sockets, full writes, clean close)
and `EventTime`, but it only sends Message-mode packets and throws away whatever the server writes
back (`_check_recv_side` reads and discards). The at-least-once mode of the protocol needs a
PackedForward message carrying an option `chunk` and a read of the server's `{"ack": chunk}`
answer, so this subclass adds exactly that and nothing more.
"""
from __future__ import annotations

import base64
import fcntl
import gzip
import os
import select
import socket
import ssl
import struct
import termios
import threading
import time
from typing import Any

import msgpack
from fluent.sender import EventTime, FluentSender

from shipper_plugins.outputs.fluentd_handshake import Credentials, HandshakeRefused, handshake
from shipper_plugins.outputs.fluentd_socket import read_message

__all__ = ["AckError", "AckAfterNamed", "ClosedBeforeAck", "WrongAnswer", "ForwardConnection", "EventTime",
           "event_time_ns", "pack_entry", "new_chunk_id", "tls_only_server", "TLS_NEEDED", "TlsHandshakeCut", "plain_forward_server", "PLAIN_NOT_TLS"]


class AckError(OSError):
    """The server did not acknowledge a chunk (timeout, closed connection, wrong answer)."""


class WrongAnswer(AckError):
    """The server answered a chunk with something that is not its ack (another chunk's id, bytes that
    are not msgpack, a message too large): it may well have stored the chunk, so a resend may be
    stored again, and a server that does this once will do it again (see FluentdOutput._deliver)."""


class TlsHandshakeCut(OSError):
    """The TLS handshake got no answer in time, or the connection closed during it: a server down or
    restarting, or one that speaks no TLS (a plain in_forward takes the ClientHello for broken chunks
    and waits for more). FluentdOutput asks which (plain_forward_server)."""


class ClosedBeforeAck(AckError):
    """The server closed (or reset) the connection after our whole chunk had gone, before its ack: it
    may have stored the chunk, so the resend may be stored again. Once is a server dying or restarting;
    every time is a server (or a proxy's timeout) that stores and cuts (FluentdOutput._deliver)."""

    def __init__(self, message: str, reused: bool):
        super().__init__(message)
        self.reused = reused  # on a connection that had carried chunks before


class StaleConnection(OSError):
    """A chunk failed on a connection that had already carried chunks, before any byte of it could be
    read: the server had closed it (deny_keepalive, an idle timeout). The chunk goes again at once on a
    fresh connection; this is not an outage."""


class AckAfterNamed(OSError):
    """The chunk's ack was read after the chunk had been named a possible repeat (take_unacked: the output's close(),
    from a stop's or a reload's thread, while the ack was on its way). It does not count as delivered: it is sent
    again, the repeat that was named, rather than counted and then named a second time when its batch, let go by the
    close, is read again."""


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
        if dt.tzinfo is None:  # ECS @timestamp is UTC; a naive value is read as UTC too
            from datetime import timezone

            dt = dt.replace(tzinfo=timezone.utc)
        ns = int(dt.timestamp()) * 1_000_000_000 + frac_ns
    except (ValueError, OverflowError):
        return fallback_ns
    # EventTime holds unsigned 32-bit seconds (1970 to 2106): an event dated outside goes with the
    # fallback (read) time, its own @timestamp still in the record, rather than never going at all.
    return ns if 0 <= ns < _EVENT_TIME_END_NS else fallback_ns


_EVENT_TIME_END_NS = (1 << 32) * 1_000_000_000


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
        self.chunks_on_connection = 0  # chunks sent on the current connection
        # The server has shown it keeps this connection after an ack (HELO's keepalive, or an empty chunk
        # acked on it after a chunk): a chunk written whole on it and then reset was read, maybe stored.
        self.kept_alive = False
        # Whether a connection to this server is reused at all: not once the server closed, or left unanswered, the
        # empty chunk asked before a reuse (deny_keepalive; a server that does not answer empty chunks): each chunk
        # then goes on a connection of its own, as Fluentd's out_forward sends by default.
        self.reuses = True
        # The last chunk was written whole and its ack not read: a stop that cuts the wait leaves a
        # chunk the server may store (a paused Fluentd's kernel took it), to be sent again.
        self.awaiting_ack = False
        self.awaiting_events = 0  # the events of that chunk: a possible repeat is named with its count
        # Whether that chunk was named a possible repeat: by whoever came first of the sending thread's failure
        # path and the output's close() (a stop's or a reload's thread), once (take_unacked).
        self._repeat_named = False
        self._naming = threading.Lock()
        self.server_keepalive = True  # HELO's `keepalive` (false with in_forward's deny_keepalive)
        self.server_hostname: str | None = None  # from PONG, for `shipper check --outputs`

    def connect(self) -> None:
        self._reconnect()

    def _reconnect(self):
        if self.socket and self._server_has_closed():
            self._close()  # noticed before writing: reconnect quietly, nothing was lost
        if self.socket:
            return
        if self.host.startswith("unix://"):
            super()._reconnect()  # fluent-logger's unix connect
        else:
            # Not fluent-logger's TCP connect: it tries IPv4 alone (AF_INET), so a server on ::1, or `localhost`
            # whose IPv4 address nobody listens on, was an outage for ever. Every address the name resolves to,
            # in order, as out_forward and any TCP client do.
            self.socket = socket.create_connection((self.host, self.port), timeout=self.timeout)
            self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.chunks_on_connection = 0
        self.kept_alive = False
        try:
            if self.tls is not None:
                try:
                    self.socket = self.tls.wrap_socket(self.socket, server_hostname=self.tls_server_name)
                except (TimeoutError, ssl.SSLEOFError, ConnectionError) as e:
                    raise TlsHandshakeCut(f"TLS handshake: {e or type(e).__name__}") from e
            if self.creds is not None:
                self.server_hostname, self.server_keepalive = handshake(self.socket, self.creds, self.timeout)
                self.kept_alive = self.server_keepalive  # (false: closed after each chunk, below)
        except BaseException:
            self._close()
            raise

    def _server_has_closed(self) -> bool:
        """Between chunks the server has nothing to say: a readable socket means its FIN (in_forward's
        deny_keepalive, a restart, an idle timeout) or garbage. Either way this connection is done,
        and finding out now, before the write, costs no reset, no retry and no warning."""
        sock = self.socket
        if isinstance(sock, ssl.SSLSocket) and sock.pending():
            return True
        try:
            poller = select.poll()
            poller.register(sock, select.POLLIN | select.POLLERR | select.POLLHUP)
            if not poller.poll(0):
                return False
            if isinstance(sock, ssl.SSLSocket):
                return _tls_closed(sock)
            # A HELO waiting on a connection we never shook hands on: the server has <security>.
            helo = self.creds is None and not isinstance(sock, ssl.SSLSocket) \
                and sock.recv(16, socket.MSG_PEEK | socket.MSG_DONTWAIT).startswith(_HELO)
        except (OSError, ValueError):
            return True
        if helo:
            raise HandshakeRefused(NEEDS_KEY)
        return True

    def greets_with_helo(self, wait: float) -> bool:
        """For `shipper check --outputs` without a shared key: in_forward with <security> speaks first
        (HELO, at once on accept) and stores nothing from a client that does not answer it, so listen
        up to `wait` seconds. Consumes what it reads: the probe closes the connection afterwards."""
        sock = self.socket
        before = sock.gettimeout()
        deadline = time.monotonic() + wait
        try:
            while (left := deadline - time.monotonic()) > 0:
                sock.settimeout(left)  # a TLS read handles session tickets itself and keeps waiting
                try:
                    return sock.recv(16).startswith(_HELO)
                except (socket.timeout, ssl.SSLWantReadError):
                    continue
            return False
        except (OSError, ValueError):
            return False
        finally:
            try:
                sock.settimeout(before)
            except OSError:
                pass

    def _bytes_not_taken(self) -> int:
        """Bytes we sent that the server's kernel has not acknowledged (TIOCOUTQ, SIOCOUTQ on TCP): a
        closed socket answers data with a reset, never an ack. 0 when unknown (then said, not quiet)."""
        try:
            return struct.unpack("i", fcntl.ioctl(self.socket.fileno(), termios.TIOCOUTQ, b"\0\0\0\0"))[0]
        except (OSError, ValueError, AttributeError):
            return 0

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
        reused = written = self.awaiting_ack = False
        try:
            self._reconnect()
            reused = self.chunks_on_connection > 0
            if reused and chunk and not self.kept_alive and self.reuses:
                self._ask_kept_alive(tag, ack_timeout)  # (its failures pass through below as they are)
            self._send_data(message)
            with self._naming:
                self.awaiting_events, self._repeat_named, self.awaiting_ack = count, False, True
            written = True
            self.chunks_on_connection += 1
            if chunk:
                self._read_ack(chunk, ack_timeout)
            elif self.host.startswith("unix://"):
                self._wait_read_by_server(ack_timeout)
            with self._naming:
                self.awaiting_ack, named = False, self._repeat_named
            if named:
                raise AckAfterNamed(f"the ack of the chunk of {count} events came after it was named a possible "
                                    "repeat: it is sent again")
        except OSError as e:
            # in_forward closes with a reset (SO_LINGER 0), whether it closed before our chunk came or
            # after reading (and storing) it: a reset met while writing is the first, one met waiting
            # for the ack is either. With acks a reused connection is one the server has shown it keeps
            # (_ask_kept_alive), so a reset after the whole chunk went means it read the chunk and died or
            # restarted: said, as a resend that may be stored twice. A clean close (FIN) on a connection not
            # shown kept is told apart by what its kernel took; on one shown kept it is said too: in_forward
            # over TLS closes with close_notify, then its reset, and a server that read, stored and closed
            # before its delayed ACK went out leaves our bytes untaken (300 events stored twice unnamed:
            # tests/e2e/test_attack21_fluentd_tls_stored_then_closed_unnamed.py).
            reset = _is_reset(e)
            stale = reused and ((reset and not written)
                                or (_is_eof(e) and not self.kept_alive and self._bytes_not_taken() > 0))
            self._close()
            if stale:
                raise StaleConnection(f"the server had closed the connection: {e}") from e
            if written and chunk and (reset or _is_eof(e)):
                what = f"connection reset before the ack ({e})" if reset else str(e)
                raise ClosedBeforeAck(f"{what}: the server may have stored the chunk", reused) from e
            raise
        except Exception as e:  # msgpack errors on a garbled answer: same as a broken peer
            self._close()
            raise WrongAnswer(f"bad answer from server: {e}") from e
        if not self.server_keepalive or (chunk and not self.kept_alive and not self.reuses):
            # The server said in HELO that it closes after each chunk, or showed it (_ask_kept_alive): close
            # first, so the next chunk never races its FIN.
            self._close()

    def take_unacked(self) -> int:
        """The events of the chunk written whole whose ack was not read, to name as a possible repeat: given once,
        to the first who asks (the sending thread's failure path, or the output's close() from another thread,
        which may come at the same moment); 0 to any other, and when no such chunk waits."""
        with self._naming:
            if not self.awaiting_ack or self._repeat_named:
                return 0
            self._repeat_named = True
            return self.awaiting_events

    def _ask_kept_alive(self, tag: str, ack_timeout: float) -> None:
        """Before a chunk goes on a connection that carried one, once: does the server keep it? in_forward with
        deny_keepalive closes right after each ack, without reading what came after it, so a chunk written at once
        onto the connection may meet that close (stored nowhere), and a server that read and stored the chunk and
        then died is reset the same way. So an empty chunk asks first (in_forward acks it and stores nothing): its
        ack proves the connection kept, and a reset after a later chunk is then a possible repeat; a close sends
        the chunk on a fresh connection, where it is the first (StaleConnection), and so does no answer within a few
        seconds (a server that does not answer empty chunks, or one frozen: its outage then shows on that chunk).
        Either way the server is not asked again: each chunk goes on a connection of its own, as Fluentd's
        out_forward sends by default (its `keepalive` is off), so no chunk races that close again."""
        asked = new_chunk_id()
        try:
            self._send_data(_empty_chunk(asked, tag))
            self._read_ack(asked, min(ack_timeout, KEPT_ALIVE_WAIT))
        except Exception as e:  # (OSError, or msgpack's on a garbled answer)
            self._close()
            self.reuses = False
            raise StaleConnection(f"the server had closed the connection after the last ack, or did not answer an "
                                  f"empty chunk on it ({e}): each chunk goes on a connection of its own") from e
        self.kept_alive = True

    def _read_ack(self, chunk: str, ack_timeout: float) -> None:
        unpacker = msgpack.Unpacker(raw=False, max_buffer_size=1 << 20)
        answer = read_message(self.socket, unpacker, ack_timeout, AckError, "ack", WrongAnswer)
        if isinstance(answer, list) and answer[:1] == ["HELO"]:
            raise HandshakeRefused(NEEDS_KEY)
        if not (isinstance(answer, dict) and answer.get("ack") == chunk):
            # An ack for another chunk cannot happen on a connection with one chunk in
            # flight: the stream is out of step, so drop it and resend.
            raise WrongAnswer(f"unexpected answer {answer!r:.100}")

    def _wait_read_by_server(self, timeout: float) -> None:
        """in_unix answers no acks, but the kernel knows when it has read our bytes: on a unix socket
        TIOCOUTQ (SIOCOUTQ) counts what was sent and not yet read by the peer. Read by a live server
        is as good as an ack (in_unix emits what it reads at once). A server that dies first frees
        what it had not read, so the connection's hang-up is checked after the count: the kernel
        marks it before freeing those bytes."""
        sock = self.socket
        poller = select.poll()
        poller.register(sock, select.POLLIN | select.POLLHUP | select.POLLERR)
        deadline = time.monotonic() + timeout
        pause = 0.0005
        while True:
            unread = struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0\0\0\0"))[0]
            if poller.poll(0):  # in_unix never writes: an event is its close
                raise AckError("connection closed before the server read the whole chunk")
            if unread == 0:
                return
            if time.monotonic() >= deadline:
                raise AckError(f"the server did not read the chunk within {timeout:g}s")
            time.sleep(pause)
            pause = min(pause * 2, 0.05)

    def close_now(self) -> None:
        with self.lock:
            self._close()


KEPT_ALIVE_WAIT = 5.0  # seconds for the answer to the empty chunk asked before a reuse (in_forward answers at once)

TLS_NEEDED = ("the server speaks TLS; set tls: true (it is an in_forward with <transport tls>, which resets every "
              "plain connection; add tls_ca_file if its certificate is not from a system CA)")


def tls_only_server(host: str, port: int, timeout: float) -> bool:
    """Whether the server at host:port is an in_forward with <transport tls>, asked of a server we reach
    without TLS that cut our plain bytes or never sent the HELO we waited for (it resets plain bytes
    without a word, or says nothing to a client that says nothing: otherwise an outage forever).
    First an empty chunk on a plain connection: a plain in_forward answers it (its ack, or a HELO
    with <security>; deny_keepalive closes only after that), a TLS one resets it. Only a server that
    closes on it without a word is sent a TLS ClientHello: a real plain Fluentd reads a ClientHello as
    msgpack and stores some of it as records (1.18.0, by hand), so no timing guess may send it one."""
    try:
        _, answer = _ask_with_empty_chunk(host, port, timeout, _Closed, "answer", OSError)
        if isinstance(answer, dict) or (isinstance(answer, list) and answer[:1] == ["HELO"]):
            return False  # an ack, or a <security> in_forward's HELO: it speaks Forward
    except _Closed as e:
        if str(e).startswith("no answer within"):
            return False  # silent: a stalled server, not one that resets plain bytes
    except ConnectionRefusedError:
        return False
    except (OSError, ValueError):
        pass  # reset: what a TLS server does with plain bytes
    return speaks_tls(host, port, timeout)


class _Closed(OSError):
    """tls_only_server: no answer to the empty chunk (closed, or silent)."""


def _empty_chunk(chunk: str, tag: str = "shipper.probe") -> bytes:
    # PackedForward with no entries (size 0): in_forward acks it and stores nothing, logs nothing
    # (Fluentd 1.18.0, by hand; its buffers' write_once returns on empty data).
    return msgpack.packb([tag, b"", {"chunk": chunk, "size": 0}], use_bin_type=True)


def _ask_with_empty_chunk(host: str, port: int, timeout: float, error: type[OSError], what: str,
                          garbage: type[OSError] | None = None) -> tuple[str, Any]:
    """(the chunk id, the server's first message) of an empty chunk sent on a new plain connection: the
    one exchange both protocol probes make (read_message raises `error` / `garbage` as it says)."""
    chunk = new_chunk_id()
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(_empty_chunk(chunk))
        return chunk, read_message(sock, msgpack.Unpacker(raw=False, max_buffer_size=1 << 16), min(timeout, 5.0),
                                   error, what, garbage)


def plain_forward_server(host: str, port: int, timeout: float) -> bool:
    """Whether the server at host:port acks a Forward chunk sent without TLS: asked of a server whose TLS
    handshake got no answer. The chunk is empty (PackedForward, no entries, size 0): in_forward acks it
    and stores nothing, logs nothing (Fluentd 1.18.0, by hand)."""
    try:
        chunk, answer = _ask_with_empty_chunk(host, port, timeout, OSError, "ack")
    except (OSError, ValueError):
        return False
    return isinstance(answer, dict) and answer.get("ack") == chunk


PLAIN_NOT_TLS = ("the server speaks plain Forward, not TLS: remove tls: true, or give its in_forward a "
                 "<transport tls> section")


def speaks_tls(host: str, port: int, timeout: float) -> bool:
    """Whether the server at host:port answers a TLS ClientHello with TLS. The certificate is not
    checked here: the question is only which protocol the server speaks."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        with socket.create_connection((host, port), timeout=timeout) as raw, ctx.wrap_socket(raw):
            return True
    except ssl.SSLError as e:
        # A TLS alert (a client certificate it requires, no common version) is TLS too; a record that
        # is no TLS (WRONG_VERSION_NUMBER: a HELO) is not.
        return "ALERT" in (e.reason or "")
    except (OSError, ValueError):
        return False


def may_be_tls_server(e: OSError) -> bool:
    """A plain connection ended the way a TLS server ends it: reset (or closed) after our first bytes,
    or no HELO while we waited for one. Not a refused connect: that is a server down."""
    if isinstance(e, (ConnectionRefusedError, StaleConnection, WrongAnswer)):
        return False
    text = str(e)
    return isinstance(e, (ConnectionResetError, BrokenPipeError, ConnectionAbortedError)) \
        or (isinstance(e, ClosedBeforeAck) and not e.reused) \
        or (isinstance(e, AckError) and "connection closed" in text) \
        or text.startswith(("no handshake answer within", "connection closed before the handshake answer"))


NEEDS_KEY = ("the server starts in_forward's <security> handshake (HELO) and stores nothing without it: "
             "set shared_key_file (and username/password_file if it has <user> sections)")
_HELO = b"\x92" + msgpack.packb("HELO")  # a 2-item array whose first item is "HELO"


def _tls_closed(sock: ssl.SSLSocket) -> bool:
    """Readable TLS is not always data: TLS 1.3 servers send session tickets after the handshake. A
    non-blocking read tells: only such records (SSLWantReadError) leave the connection usable."""
    before = sock.gettimeout()
    sock.settimeout(0.0)
    try:
        sock.recv(1)  # b"": closed; a byte: garbage between chunks; either way done
    except ssl.SSLWantReadError:
        return False
    except (OSError, ValueError):
        pass
    finally:
        sock.settimeout(before)
    return True


def _is_reset(e: OSError) -> bool:
    """A reset or a broken pipe: what a write onto, or an ack read from, a connection the server had
    already closed looks like (its kernel answers bytes nobody will read with a reset)."""
    return isinstance(e, (ConnectionError, ssl.SSLEOFError, ssl.SSLZeroReturnError))


def _is_eof(e: OSError) -> bool:
    """The server closed cleanly while we waited for the ack: either its FIN was on the way before our
    chunk left (stale; its kernel never took the chunk), or it took and read the chunk and closed
    without acking it (a crash or restart between storing and acking: the resend may be a duplicate,
    so it is said). ForwardConnection._bytes_not_taken tells which."""
    return isinstance(e, AckError) and "connection closed" in str(e)
