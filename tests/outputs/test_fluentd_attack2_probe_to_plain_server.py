"""Attack (issue 12, round 2): a plain in_forward with `deny_keepalive true` behind a TCP proxy that
resets one chunk's connection in three and passes the server's close on late (5 s, or at once when the
client writes: what a lingering proxy, or a loaded Fluentd slow to close, looks like). After a reset shipper asked whether the
server speaks TLS: a msgpack nil, which deny_keepalive closes after, but not within the second the
probe waited; then four more nils, after which the close was seen, so the probe sent a TLS
ClientHello to the plain server. A real Fluentd 1.18.0 reads a ClientHello as msgpack: mostly
"incoming chunk is broken", but some pieces come out as arrays it stores as records (by hand, behind
this proxy: 8 records like tag "0" record 1 beside the audit trail; of 300 ClientHellos sent
straight to it, one stored a record and one asked for so much memory that its worker died). Delivery
also crawled: 1000 of 3000 events in 90 s. A server that answers plain Forward must never be sent a
ClientHello, and every event must arrive once."""
from __future__ import annotations

import json
import socket
import struct
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

from tests.peers.forward_server import ForwardServer

SHIPPER = [sys.executable, "-m", "shipper.cli"]


class ResettingProxy:
    """Forwards TCP to `upstream`; every `every`-th connection that starts with a chunk is reset once
    its first bytes came (nothing of them forwarded), as a flaky load balancer does. The server's close reaches the client
    `close_lag` s later, or at once when the client writes meanwhile."""

    def __init__(self, upstream: int, every: int = 3, close_lag: float = 5.0) -> None:
        self.upstream, self.every, self.close_lag, self.n, self.resets = upstream, every, close_lag, 0, 0
        self.lock = threading.Lock()
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    @staticmethod
    def _reset(s: socket.socket) -> None:
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.shutdown(socket.SHUT_RDWR)  # takes effect even while the other thread reads it
        except OSError:
            pass
        s.close()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            first = conn.recv(65536)
        except OSError:
            first = b""
        if len(first) > 64:  # a chunk (a probe's bytes go through): every third one is reset
            with self.lock:
                self.n += 1
                reset = self.n % self.every == 0
            if reset:
                self.resets += 1
                self._reset(conn)
                return
        try:
            up = socket.create_connection(("127.0.0.1", self.upstream))
            up.sendall(first)
        except OSError:
            self._reset(conn)
            return
        closed = threading.Event()  # the server closed: the client's next bytes get the reset
        threading.Thread(target=self._to_server, args=(conn, up, closed), daemon=True).start()
        try:
            while data := up.recv(65536):
                conn.sendall(data)
        except OSError:
            pass
        closed.set()
        time.sleep(self.close_lag)
        self._reset(conn)
        self._reset(up)

    def _to_server(self, conn: socket.socket, up: socket.socket, closed: threading.Event) -> None:
        try:
            while (data := conn.recv(65536)) and not closed.is_set():
                up.sendall(data)
        except OSError:
            pass
        self._reset(conn)
        self._reset(up)

    def stop(self) -> None:
        self.sock.close()


def test_a_plain_deny_keepalive_server_behind_a_resetting_proxy_gets_no_tls_probe(tmp_path: Path):
    n = 2000
    with open(tmp_path / "audit.log", "w") as f:
        for i in range(n):
            f.write(json.dumps({"@timestamp": "2026-01-02T03:04:05Z", "message": f"m{i}", "n": i}) + "\n")
    peer = ForwardServer(deny_keepalive=True).start()
    proxy = ResettingProxy(peer.port)
    cfg = tmp_path / "shipper.yaml"
    cfg.write_text(f"""
state_dir: {tmp_path / 'state'}
shutdown_timeout: 2
sources:
  - {{name: audit, type: file, paths: ['{tmp_path / "audit.log"}'], parser: json}}
outputs:
  - {{type: fluentd, port: {proxy.port}, batch_size: 100, flush_interval: 0.05, backoff_base: 0.05, backoff_max: 0.3}}
""")
    try:
        r = subprocess.run(SHIPPER + ["run", "--once", "--timeout", "45", "-c", str(cfg)],
                           capture_output=True, timeout=120)
    finally:
        proxy.stop()
        peer.stop()
    err = r.stderr.decode()
    assert proxy.resets >= 2, f"the proxy reset some connections ({proxy.resets})"
    broken = [e for e in peer.errors if "broken" in e or "undecodable" in e]
    assert not broken, f"a TLS ClientHello reached the plain server ({len(broken)} broken chunks): {broken[:3]}"
    assert r.returncode == 0, err
    copies = Counter(rec[2]["generic"]["n"] for rec in peer.records)
    assert sorted(copies) == list(range(n)) and max(copies.values()) == 1, copies.most_common(2)
