"""The HTTP endpoint cannot hurt shipping: a flood of idle connections and a slowloris against a real
`shipper run` while its log rotates; the endpoint's own refusals on a real socket."""
from __future__ import annotations

import json
import os
import resource
import signal
import socket
import threading
import time

import pytest

from shipper.http_endpoint import BoundedHttpServer
from tests.e2e.test_daemon import NotifySocket, config_text, free_port, get, shipped, start, write_lines
from tests.support import wait_until


def _fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


@pytest.fixture
def notify(tmp_path):
    n = NotifySocket(tmp_path / "notify.sock")
    yield n
    n.close()


def test_flood_and_slowloris_leave_tailing_and_health_alone(tmp_path, notify):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 5000 + 300
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, want), hard))
    flood_n = min(5000, resource.getrlimit(resource.RLIMIT_NOFILE)[0] - 300)
    assert flood_n >= 1000, "the test needs descriptors for its flood"

    port = free_port()
    cfg = tmp_path / "shipper.yaml"
    cfg.write_text(config_text(tmp_path, port, ["a"]))
    log_path = tmp_path / "a.log"
    write_lines(log_path, "a", 0, 100)
    out = tmp_path / "out.jsonl"
    flood: list[socket.socket] = []
    slow: list[socket.socket] = []
    stop_trickle = threading.Event()
    with open(out, "wb") as so, open(tmp_path / "err.log", "wb") as se:
        proc = start(cfg, notify.path, so, se, watchdog_usec=0)
    try:
        notify.wait_for(lambda m: m.get("READY") == "1")
        wait_until(lambda: len(shipped(out)) == 100, what="the first 100 events")
        assert get(f"http://127.0.0.1:{port}/health")[0] == 200
        baseline = _fds(proc.pid)

        # The slowloris: a request head trickled one byte at a time, never finished.
        for _ in range(10):
            s = socket.create_connection(("127.0.0.1", port), timeout=30)
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            slow.append(s)
        cut = set()

        def trickle():
            while not stop_trickle.is_set() and len(cut) < len(slow):
                for i, s in enumerate(slow):
                    if i in cut:
                        continue
                    try:
                        s.send(b"a")
                    except OSError:
                        cut.add(i)
                stop_trickle.wait(0.3)

        t = threading.Thread(target=trickle, daemon=True)
        t.start()

        # The flood: 5,000 connections that never send a byte, held open.
        most = 0
        for i in range(flood_n):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", port))
            flood.append(s)
            if i % 500 == 0:
                most = max(most, _fds(proc.pid))

        # Rotation during the flood: the old file gets its last lines after the rename.
        write_lines(log_path, "a", 100, 100)
        os.rename(log_path, tmp_path / "a.log.1")
        write_lines(tmp_path / "a.log.1", "a", 200, 50)
        write_lines(log_path, "a", 250, 100)
        for _ in range(5):
            code, body = get(f"http://127.0.0.1:{port}/health")  # 10 s timeout each
            assert code == 200 and json.loads(body)["status"] == "ok", body
            most = max(most, _fds(proc.pid))
        wait_until(lambda: sorted(n for _, n in shipped(out)) == list(range(350)), timeout=90,
                   what="all 350 events, none twice, through the rotation and the flood")
        # The slowloris is cut off (5 s head deadline), whatever it keeps sending.
        wait_until(lambda: len(cut) == len(slow), timeout=60, what="the endpoint to close every slow request")
        most = max(most, _fds(proc.pid))
        assert most <= baseline + 64 + 16, (baseline, most)  # 64 connections at most, whatever the flood
        assert proc.poll() is None
    finally:
        stop_trickle.set()
        for s in flood + slow:
            s.close()
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except Exception:
                proc.kill()
                proc.wait()
    assert proc.returncode == 0


def _app(environ, start_response):
    body = f"{environ['REQUEST_METHOD']} {environ['PATH_INFO']}".encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


@pytest.fixture
def server():
    srv = BoundedHttpServer("127.0.0.1", 0, _app, max_connections=4, header_timeout=1.0, idle_timeout=1.0)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv
    srv.shutdown()
    t.join(10)
    srv.server_close()


def _ask(port: int, raw: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(raw)
        got = b""
        while chunk := s.recv(65536):
            got += chunk
        return got


def test_answers_refuses_and_bounds(server):
    ok = _ask(server.port, b"GET /x?y=1 HTTP/1.1\r\nHost: h\r\n\r\n")
    assert ok.startswith(b"HTTP/1.1 200 OK\r\n") and ok.endswith(b"\r\n\r\nGET /x")
    assert b"Connection: close" in ok and b"Content-Length: 6" in ok
    head = _ask(server.port, b"HEAD / HTTP/1.1\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and head.endswith(b"\r\n\r\n") and b"Content-Length: 6" in head
    assert _ask(server.port, b"POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n").startswith(b"HTTP/1.1 405")
    assert _ask(server.port, b"garbage\r\n\r\n").startswith(b"HTTP/1.1 400")
    assert _ask(server.port, b"GET / HTTP/1.1\r\nX: " + b"a" * 20000).startswith(b"HTTP/1.1 431")
    # Four idle connections fill it; a fifth that asks is served (the oldest idle one is closed).
    idle = [socket.create_connection(("127.0.0.1", server.port), timeout=10) for _ in range(4)]
    try:
        time.sleep(0.2)
        assert _ask(server.port, b"GET /after HTTP/1.1\r\n\r\n").endswith(b"GET /after")
        assert idle[0].recv(10) == b"", "the oldest idle connection is the one closed"
        # An idle connection is closed at its head deadline (1 s here).
        assert idle[3].recv(10) == b""
    finally:
        for s in idle:
            s.close()
