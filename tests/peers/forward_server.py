"""A strict Fluentd Forward protocol v1 server for tests (a real Fluentd cannot be installed here).

Follows https://github.com/fluent/fluentd/wiki/Forward-Protocol-Specification-v1: decodes Message,
Forward, PackedForward and CompressedPackedForward; `EventTime` (ext type 0, 8 bytes) or integer
times; options `size`, `chunk` (answered with `{"ack": chunk}`) and `compressed: gzip`. Anything
else is a protocol error: recorded in `errors` and the connection is closed, nothing stored.

Failure modes for tests: `mode` "ack" (default), "no_ack" (stores, never answers), "delay_ack"
(answers after `ack_delay` s), "unix" (Fluentd's in_unix: never answers an ack, and cannot read
CompressedPackedForward: such a chunk is dropped, nothing stored, and recorded in `unreadable`);
`deny_keepalive` (in_forward's `deny_keepalive true`: the connection is closed after each message,
right after its ack, or `close_delay` s later; a message that arrived behind it is never read); `drop_next(n)` closes
the connection on the next n messages before
reading them whole (nothing stored: "dropped mid-chunk"); `drop_after_store(n)` stores the next n
chunks of records and closes without acking (the only source of legitimate duplicates); `restart()`; TCP or
unix socket; `frozen` (an Event: while set, nothing is read, as from a SIGSTOPped Fluentd; a stop()
meanwhile discards what was not read, as a kill does).

An empty chunk (PackedForward, no entries, size 0: what a client asks whether a connection is kept, or which
protocol a port speaks) is answered as any chunk, stores nothing, and is counted in `empty_chunks`, not in
`chunks` nor `acks` (which count the chunks of records), as in_forward acks it and stores nothing (Fluentd 1.18.0).

A msgpack nil is a heartbeat, ignored as in_forward ignores it (closed after, with deny_keepalive); any
other message that is no array is recorded in `errors` and skipped, the connection kept, as in_forward
does ("incoming chunk is broken"). Every TCP close is a reset, as in_forward's (SO_LINGER 0).

Security, as in_forward's `<transport tls>` and `<security>`: `tls` (an SSLContext: connections are
TLS, a failed TLS handshake is recorded in `errors`) and `shared_key` (+ `users`): every connection
starts with HELO (a random binary nonce and, like in_forward, a non-empty binary auth salt whether
or not there are users; `keepalive` false with deny_keepalive), the client's PING is checked
strictly against the spec's digests (the user only when there are `users`: in_forward's user_auth),
and PONG carries the server's own digest. A failed check answers `["PONG", false, reason, "", ""]`
with in_forward's reasons ("shared_key mismatch", "username/password mismatch"), records it in
`handshake_failures`, and closes.
"""
from __future__ import annotations

import gzip
import hashlib
import os
import select
import socket
import socketserver
import ssl
import struct
import threading
import time
from typing import Any

import msgpack


class ProtocolError(Exception):
    pass


class EventTimeValue:
    __slots__ = ("ns",)

    def __init__(self, ns: int):
        self.ns = ns


def _ext_hook(code: int, data: bytes):
    if code != 0:
        raise ProtocolError(f"unknown ext type {code}")
    if len(data) != 8:
        raise ProtocolError(f"EventTime must be 8 bytes, got {len(data)}")
    sec, nsec = struct.unpack(">II", data)
    if nsec >= 1_000_000_000:
        raise ProtocolError(f"EventTime nanoseconds out of range: {nsec}")
    return EventTimeValue(sec * 1_000_000_000 + nsec)


def _time_ns(t: Any) -> int:
    if isinstance(t, EventTimeValue):
        return t.ns
    if isinstance(t, int) and not isinstance(t, bool) and t >= 0:
        return t * 1_000_000_000
    raise ProtocolError(f"time must be an integer or EventTime, got {type(t).__name__}")


def _entry(e: Any) -> tuple[int, dict]:
    if not isinstance(e, (list, tuple)) or len(e) != 2:
        raise ProtocolError(f"entry must be [time, record], got {e!r:.80}")
    t, record = e
    if not isinstance(record, dict):
        raise ProtocolError(f"record must be a map, got {type(record).__name__}")
    return _time_ns(t), record


def decode_message(msg: Any) -> tuple[str, list[tuple[int, dict]], dict]:
    """(tag, entries, option) of one Forward protocol message, or ProtocolError."""
    if not isinstance(msg, (list, tuple)) or not 2 <= len(msg) <= 4:
        raise ProtocolError(f"a message is an array of 2 to 4 items, got {msg!r:.80}")
    tag = msg[0]
    if not isinstance(tag, str) or not tag:
        raise ProtocolError("tag must be a non-empty string")
    second = msg[1]
    if isinstance(second, (int, EventTimeValue)) and not isinstance(second, bool):  # Message mode
        if len(msg) not in (3, 4):
            raise ProtocolError("Message mode is [tag, time, record(, option)]")
        option = msg[3] if len(msg) == 4 else {}
        entries = [_entry([second, msg[2]])]
        compressed = False
    else:
        if len(msg) not in (2, 3):
            raise ProtocolError("Forward/PackedForward is [tag, entries(, option)]")
        option = msg[2] if len(msg) == 3 else {}
        if not isinstance(option, dict):
            raise ProtocolError("option must be a map")
        compressed = option.get("compressed")
        if isinstance(second, list):  # Forward mode
            if compressed:
                raise ProtocolError("compressed is only valid with PackedForward")
            entries = [_entry(e) for e in second]
        elif isinstance(second, (bytes, str)):  # PackedForward / CompressedPackedForward
            data = second.encode("latin-1") if isinstance(second, str) else second
            if compressed is not None:
                if compressed != "gzip":
                    raise ProtocolError(f"unknown compression {compressed!r}")
                if not isinstance(second, bytes):
                    raise ProtocolError("CompressedPackedForward entries must be bin")
                try:
                    data = gzip.decompress(data)
                except Exception as e:
                    raise ProtocolError(f"bad gzip stream: {e}")
            unpacker = msgpack.Unpacker(raw=False, ext_hook=_ext_hook)
            unpacker.feed(data)
            entries, end = [], 0
            for e in unpacker:
                entries.append(_entry(e))
                end = unpacker.tell()
            if end != len(data):
                raise ProtocolError("truncated entry or trailing bytes in PackedForward stream")
        else:
            raise ProtocolError(f"second item must be time, array or bin, got {type(second).__name__}")
    if not isinstance(option, dict):
        raise ProtocolError("option must be a map")
    for k in option:
        if k not in ("size", "chunk", "compressed"):
            raise ProtocolError(f"unknown option {k!r}")
    if "size" in option and option["size"] != len(entries):
        raise ProtocolError(f"option size {option['size']} != {len(entries)} entries")
    if "chunk" in option and (not isinstance(option["chunk"], str) or not option["chunk"]):
        raise ProtocolError("option chunk must be a non-empty string")
    return tag, entries, option


class _Handler(socketserver.BaseRequestHandler):
    server: "_Server"

    def handle(self) -> None:
        peer: ForwardServer = self.server.peer
        sock: socket.socket = self.request
        peer._track(sock, True)
        peer.connections += 1
        generation = peer.generation
        unpacker = msgpack.Unpacker(raw=False, ext_hook=_ext_hook, max_buffer_size=64 << 20)
        try:
            if peer.tls is not None:
                try:
                    sock = peer.tls.wrap_socket(sock, server_side=True)
                except (ssl.SSLError, OSError) as e:
                    peer.errors.append(f"TLS handshake failed: {e}")
                    return
            if peer.shared_key is not None and not self._handshake(peer, sock, unpacker):
                return
            while True:
                # Wait for data in short slices, so that freezing takes effect between reads; frozen
                # is checked again once data is there (it may have been set during the wait).
                while True:
                    if peer.generation != generation:
                        return  # stopped (killed) meanwhile: what it had not read is gone with it
                    if peer.frozen.is_set():
                        time.sleep(0.01)
                        continue
                    pending = isinstance(sock, ssl.SSLSocket) and sock.pending()
                    if (pending or select.select([sock], [], [], 0.02)[0]) and not peer.frozen.is_set():
                        break
                data = sock.recv(65536)
                if not data:
                    return
                if peer._take("drop"):
                    peer.dropped += 1
                    return  # closed mid-chunk: nothing of this message is stored
                unpacker.feed(data)
                for msg in unpacker:
                    if not self._one(peer, sock, msg):
                        return
        except ProtocolError as e:
            peer.errors.append(str(e))
        except (OSError, ValueError) as e:
            if not isinstance(e, OSError):
                peer.errors.append(f"undecodable msgpack: {e}")
        finally:
            peer._track(self.request, False)  # tracked as accepted (TLS wraps it in another object)
            if self.request.family != socket.AF_UNIX:
                # in_forward sets SO_LINGER 0 on every TCP connection (the server helper's
                # linger_timeout, default 0): its every close is a reset, not a FIN.
                try:
                    self.request.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                except OSError:
                    pass
            try:
                sock.close()
            except OSError:
                pass

    def _handshake(self, peer: "ForwardServer", sock: socket.socket, unpacker: msgpack.Unpacker) -> bool:
        """HELO, then the client's PING checked against the spec's digests, then PONG."""
        nonce = os.urandom(16)
        auth = os.urandom(16)  # in_forward: `'auth' => (@security ? user_auth_salt : '')`, users or not
        sock.sendall(msgpack.packb(["HELO", {"nonce": nonce, "auth": auth, "keepalive": not peer.deny_keepalive}],
                                   use_bin_type=True))
        ping = None
        while ping is None:
            data = sock.recv(65536)
            if not data:
                peer.handshake_failures.append("closed before PING")
                return False
            unpacker.feed(data)
            for ping in unpacker:  # noqa: B007  (the first message, kept after the loop)
                break
        if not (isinstance(ping, list) and len(ping) == 6 and ping[0] == "PING"
                and all(isinstance(x, str) for x in ping[1:])):
            # in_forward answers anything else (a client without <security> sending its chunk) with
            # PONG false "invalid ping message" and closes: the chunk is not stored.
            peer.handshake_failures.append("invalid ping message")
            peer.errors.append(f"PING must be [\"PING\", 5 strings], got {ping!r:.100}")
            sock.sendall(msgpack.packb(["PONG", False, "invalid ping message", "", ""], use_bin_type=True))
            return False
        _, hostname, salt, digest, username, password_digest = ping
        reason = ""
        if digest != _sha512(salt, hostname, nonce, peer.shared_key):
            reason = "shared_key mismatch"
        elif peer.users and (username not in peer.users
                             or password_digest != _sha512(auth, username, peer.users[username])):
            reason = "username/password mismatch"
        elif not peer.users and not username and password_digest and password_digest != _sha512(auth, "", ""):
            # Without users in_forward ignores these two; a client that answers the salt the way
            # out_forward does (empty user and password) is checked all the same, to catch a
            # client that hashes something else.
            reason = "password digest is not out_forward's for an empty password"
        ok = not reason
        pong = ["PONG", True, "", peer.hostname, _sha512(salt, peer.hostname, nonce, peer.shared_key)] if ok \
            else ["PONG", False, reason, "", ""]
        if not ok:  # recorded before the answer: a test reads it as soon as the client has it
            peer.handshake_failures.append(reason)
        sock.sendall(msgpack.packb(pong, use_bin_type=True))
        if not ok:
            return False
        peer.authenticated.append(hostname)
        return True

    def _one(self, peer: "ForwardServer", sock: socket.socket, msg: Any) -> bool:
        """Store one message and answer it; False closes the connection."""
        if msg is None:
            # in_forward takes a msgpack nil as a heartbeat ("for future TCP heartbeat_request") and
            # ignores it; with deny_keepalive it closes the connection, as after any message
            # (measured on Fluentd 1.18.0).
            peer.heartbeats += 1
            return not peer.deny_keepalive
        if not isinstance(msg, (list, tuple)):
            # in_forward: "incoming chunk is broken" (logged), and it goes on reading the connection;
            # a TLS ClientHello sent to it is read so, mostly as integers (Fluentd 1.18.0, by hand).
            peer.errors.append(f"incoming chunk is broken: {msg!r:.80}")
            return True
        if peer.mode == "unix" and isinstance(msg, (list, tuple)) and len(msg) == 3 \
                and isinstance(msg[2], dict) and "compressed" in msg[2]:
            peer.unreadable.append(f"in_unix cannot read CompressedPackedForward: {len(msg[1])} bytes dropped")
            return True
        tag, entries, option = decode_message(msg)
        peer._store(tag, entries, option)
        chunk = option.get("chunk")
        if chunk is None or peer.mode == "unix":  # in_unix never answers an ack
            return not peer.deny_keepalive
        if entries and peer._take("after_store"):
            return False  # stored, never acked: the client must resend
        if peer.mode == "no_ack":
            return True
        if peer.mode == "delay_ack":
            time.sleep(peer.ack_delay)
        if entries:
            peer.acks += 1  # counted before it is sent: a test reads it as soon as the client has the ack
        sock.sendall(msgpack.packb({"ack": chunk}))
        if peer.deny_keepalive and peer.close_delay:
            # A slow close (cool.io flushing first): the client may write its next chunk onto this
            # connection before the FIN; that chunk is never read (the kernel answers it with a reset).
            time.sleep(peer.close_delay)
        return not peer.deny_keepalive


def _sha512(*parts: Any) -> str:
    h = hashlib.sha512()
    for p in parts:
        h.update(p if isinstance(p, bytes) else p.encode())
    return h.hexdigest()


class _Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True
    peer: "ForwardServer"


class _UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    peer: "ForwardServer"


class ForwardServer:
    def __init__(self, host: str = "127.0.0.1", port: int = 0, unix_path: str | None = None,
                 mode: str = "ack", ack_delay: float = 0.0, tls: ssl.SSLContext | None = None,
                 shared_key: str | None = None, users: dict[str, str] | None = None,
                 hostname: str = "fluentd-peer", deny_keepalive: bool = False, close_delay: float = 0.0):
        if mode == "unix" and (tls is not None or shared_key is not None):
            raise ValueError("in_unix has neither TLS nor <security>")
        self.host, self.port, self.unix_path = host, port, unix_path
        self.mode, self.ack_delay, self.deny_keepalive = mode, ack_delay, deny_keepalive
        self.close_delay = close_delay  # deny_keepalive: seconds between the ack and the close
        self.tls, self.shared_key, self.users, self.hostname = tls, shared_key, users or {}, hostname
        self.handshake_failures: list[str] = []
        self.authenticated: list[str] = []  # the client hostnames of the handshakes that passed
        self.records: list[tuple[str, int, dict]] = []  # (tag, time in ns, record), in arrival order
        self.chunks: list[str | None] = []
        self.errors: list[str] = []
        self.unreadable: list[str] = []  # in_unix mode: compressed chunks dropped
        self.connections = 0  # accepted so far
        self.frozen = threading.Event()  # set: connections read nothing (a stopped process)
        self.generation = 0  # one per start(): a connection of an earlier one never reads again
        self.acks = 0
        self.empty_chunks = 0  # chunks without entries received (answered, nothing stored)
        self.heartbeats = 0  # msgpack nils received (ignored, like in_forward)
        self.dropped = 0
        self._counters = {"drop": 0, "after_store": 0}
        self._lock = threading.Lock()
        self._conns: set[socket.socket] = set()
        self._server: socketserver.BaseServer | None = None
        self._thread: threading.Thread | None = None

    # control
    def start(self) -> "ForwardServer":
        if self.unix_path:
            if os.path.exists(self.unix_path):
                os.unlink(self.unix_path)
            srv: socketserver.BaseServer = _UnixServer(self.unix_path, _Handler)
        else:
            srv = _Server((self.host, self.port), _Handler)
            self.port = srv.server_address[1]
        srv.peer = self
        self._server = srv
        self._thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening and cut every open connection (a crashed or stopped Fluentd)."""
        srv, self._server = self._server, None
        if srv is None:
            return
        self.generation += 1
        srv.shutdown()
        srv.server_close()
        with self._lock:
            conns = list(self._conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self.unix_path and os.path.exists(self.unix_path):
            os.unlink(self.unix_path)

    def restart(self, down_for: float = 0.0) -> None:
        self.stop()
        if down_for:
            time.sleep(down_for)
        self.start()

    def drop_next(self, n: int = 1) -> None:
        with self._lock:
            self._counters["drop"] += n

    def drop_after_store(self, n: int = 1) -> None:
        with self._lock:
            self._counters["after_store"] += n

    # state
    def wait_for_records(self, n: int, timeout: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.records) >= n:
                return True
            time.sleep(0.02)
        return len(self.records) >= n

    def _take(self, what: str) -> bool:
        with self._lock:
            if self._counters[what] > 0:
                self._counters[what] -= 1
                return True
            return False

    def _track(self, sock: socket.socket, add: bool) -> None:
        with self._lock:
            (self._conns.add if add else self._conns.discard)(sock)

    def _store(self, tag: str, entries: list[tuple[int, dict]], option: dict) -> None:
        with self._lock:
            if not entries:
                self.empty_chunks += 1
                return
            self.records.extend((tag, t, r) for t, r in entries)
            self.chunks.append(option.get("chunk"))

    @property
    def address(self) -> tuple[str, int]:
        return self.host, self.port


if __name__ == "__main__":  # a standalone peer for manual runs and the benchmark
    import argparse

    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=24224)
    ap.add_argument("--mode", default="ack")
    a = ap.parse_args()
    s = ForwardServer(port=a.port, mode=a.mode).start()
    print(f"listening on 127.0.0.1:{s.port}", flush=True)
    threading.Event().wait()
