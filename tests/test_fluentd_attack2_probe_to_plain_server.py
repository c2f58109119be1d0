"""Attack (issue 12, round 2): a plain in_forward with `deny_keepalive true` behind a TCP proxy that
resets one connection in three. After a reset shipper probes whether the server speaks TLS; the
probe's msgpack nil is closed by deny_keepalive (in_forward closes after every message, a nil too),
so the probe went on to send a TLS ClientHello to the plain server. A real Fluentd 1.18.0 reads a
ClientHello as msgpack: mostly "incoming chunk is broken", but some come out as arrays it stores as
records (by hand: 8 records like tag "0" record 1 in one run, beside the audit trail) and one in
~300 asked for so much memory that its worker died. Delivery also crawled: 1000 of 3000 events in
90 s, with 30 s ack waits. A server that has acked plain Forward must never be sent a ClientHello,
and every event must arrive once."""
from __future__ import annotations

import json
import socket
import struct
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

from tests.peers.forward_server import ForwardServer

SHIPPER = [sys.executable, "-m", "shipper.cli"]


class ResettingProxy:
    """Forwards TCP to `upstream`; every `every`-th connection is reset once its first bytes came
    (nothing of them forwarded), as a flaky load balancer does."""

    def __init__(self, upstream: int, every: int = 3) -> None:
        self.upstream, self.every, self.n, self.resets = upstream, every, 0, 0
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    @staticmethod
    def _reset(s: socket.socket) -> None:
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()
        except OSError:
            pass

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.n += 1
            threading.Thread(target=self._serve, args=(conn, self.n % self.every == 0), daemon=True).start()

    def _serve(self, conn: socket.socket, reset: bool) -> None:
        if reset:
            try:
                conn.recv(65536)
            except OSError:
                pass
            self.resets += 1
            self._reset(conn)
            return
        try:
            up = socket.create_connection(("127.0.0.1", self.upstream))
        except OSError:
            self._reset(conn)
            return
        threading.Thread(target=self._pipe, args=(conn, up), daemon=True).start()
        self._pipe(up, conn)

    def _pipe(self, a: socket.socket, b: socket.socket) -> None:
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        self._reset(b)
        self._reset(a)

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
    assert proxy.resets >= 3, "the proxy reset some connections"
    broken = [e for e in peer.errors if "broken" in e or "undecodable" in e]
    assert not broken, f"a TLS ClientHello reached the plain server ({len(broken)} broken chunks): {broken[:3]}"
    assert r.returncode == 0, err
    copies = Counter(rec[2]["generic"]["n"] for rec in peer.records)
    assert sorted(copies) == list(range(n)) and max(copies.values()) == 1, copies.most_common(2)
