"""Attack (issue 12, round 2): a server that stores every chunk and then closes the connection before
its ack: a TCP proxy whose timeout cuts the client while Fluentd is still acking, or a server that
half-closes (FIN) at once and keeps reading. Each resend is stored again. Before the fix shipper
resent for ever at the transient backoff, one warning that said nothing of copies, and `run --once`
ran into --timeout: 8-9 copies of each event in 40 s (the daemon: one more every 30 s, for ever).
Like "no ack, 3 times in a row", it must be named, with at most 3 copies, and end `run --once` early."""
from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import msgpack
import pytest

from tests.outputs.test_fluentd_attack_wrong_ack import config
from tests.peers.forward_server import ForwardServer, ProtocolError, _ext_hook, decode_message

pytestmark = pytest.mark.slow

SHIPPER = [sys.executable, "-m", "shipper.cli"]
TLS_HANDSHAKE = b"\x16\x03"  # a TLS record of type handshake: a ClientHello


class HalfClosingServer:
    """Sends FIN right after accepting, then reads, decodes and stores every chunk (it cannot ack).
    A stream that is not Forward ends its connection, as in_forward ends it, and is kept by its first
    bytes in `not_forward`: the agent asks a server that closes without a word, once, whether it
    speaks TLS (a ClientHello, which is no msgpack); anything else there is a fault of the agent's
    framing (a cut chunk followed by another on one connection, say)."""

    def __init__(self) -> None:
        self.records: list[dict] = []
        self.not_forward: list[bytes] = []
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        unpacker = msgpack.Unpacker(raw=False, ext_hook=_ext_hook)
        first = b""
        try:
            with conn:
                conn.shutdown(socket.SHUT_WR)
                while data := conn.recv(65536):
                    first = first or data[:8]
                    unpacker.feed(data)
                    for msg in unpacker:
                        self.records.extend(r for _, r in decode_message(msg)[1])
        except OSError:
            pass
        except (ValueError, ProtocolError):  # (msgpack's errors are ValueErrors)
            self.not_forward.append(first)

    def garbled(self) -> list[bytes]:
        """The first bytes of the connections that were no Forward, but for the one TLS probe."""
        if len(self.not_forward) > 1:
            return self.not_forward
        return [b for b in self.not_forward if not b.startswith(TLS_HANDSHAKE)]

    def stop(self) -> None:
        self.sock.close()


@pytest.mark.parametrize("server", ["reset_after_store", "half_close"])
def test_a_server_that_stores_each_chunk_then_closes_before_its_ack_is_named(tmp_path: Path, server: str):
    with open(tmp_path / "audit.log", "w") as f:
        for i in range(30):
            f.write(json.dumps({"@timestamp": "2026-01-02T03:04:05Z", "message": f"m{i}", "n": i}) + "\n")
    if server == "reset_after_store":
        peer = ForwardServer().start()
        peer.drop_after_store(10**6)  # every chunk stored, then the connection reset without its ack
        port, records = peer.port, lambda: [r[2] for r in peer.records]
        stop = peer.stop
        half = None
    else:
        half = HalfClosingServer()
        port, records, stop = half.port, lambda: list(half.records), half.stop
    try:
        t0 = time.monotonic()
        r = subprocess.run(SHIPPER + ["run", "--once", "--timeout", "40", "-c", str(config(tmp_path, port, ack_timeout=5))],
                           capture_output=True, timeout=120)
        took = time.monotonic() - t0
        stored = records()
        garbled = half.garbled() if half else []  # (ForwardServer is strict itself)
    finally:
        stop()
    err = r.stderr.decode()
    assert r.returncode == 1, err
    assert "refused by output fluentd" in err and "not delivered" in err, err
    assert "timeout after 40s" not in err and took < 35, f"ran into --timeout after {took:.0f}s: {err}"
    assert not garbled, f"a connection the peer could not read as Forward: {garbled}"
    copies = Counter(rec["generic"]["n"] for rec in stored)
    assert copies and max(copies.values()) <= 3, f"each resend was stored again: {copies.most_common(1)}"
    # Nothing was checkpointed: a well-behaved in_forward then gets every event once.
    good = ForwardServer().start()
    try:
        r = subprocess.run(SHIPPER + ["run", "--once", "--timeout", "50", "-c", str(config(tmp_path, good.port, ack_timeout=5))],
                           capture_output=True, timeout=120)
        assert r.returncode == 0, r.stderr.decode()
        assert sorted(rec[2]["generic"]["n"] for rec in good.records) == list(range(30))
    finally:
        good.stop()
