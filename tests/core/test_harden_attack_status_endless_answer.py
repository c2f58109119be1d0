"""Attack (issue 14): a local user binds the endpoint's port while the daemon is down (or the daemon is
wedged) and answers /status with an endless body, or trickles it. `shipper status` read it whole: 6 GB
in 50 s. The promise: nothing hangs or bloats; status says the daemon is not reachable."""
from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


class _Liar:
    """Accepts, reads the request, then sends an answer head and a body that never ends."""

    def __init__(self, chunk: bytes, pause: float):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.5)
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        self.chunk, self.pause = chunk, pause
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stop.is_set():
            try:
                c, _ = self.sock.accept()
            except OSError:
                continue
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c: socket.socket):
        with c:
            try:
                c.recv(65536)
                c.sendall(b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{"a": "')
                deadline, sent = time.monotonic() + 40, 0
                # Bounded so the test itself cannot exhaust the machine: 256 MiB and 40 s at most.
                while not self.stop.is_set() and time.monotonic() < deadline and sent < 256 << 20:
                    c.sendall(self.chunk)
                    sent += len(self.chunk)
                    if self.pause:
                        time.sleep(self.pause)
            except OSError:
                pass

    def close(self):
        self.stop.set()
        self.sock.close()


@pytest.mark.parametrize("chunk,pause", [(b"x" * 65536, 0.0), (b"x", 0.5)], ids=["flood", "trickle"])
def test_status_bounds_what_it_reads_from_the_endpoint(tmp_path, chunk, pause):
    liar = _Liar(chunk, pause)
    try:
        (tmp_path / "a.log").write_text('{"a": 1}\n')
        cfg = tmp_path / "shipper.yaml"
        cfg.write_text(f"state_dir: {tmp_path}/state\nhttp: {{listen: \"127.0.0.1:{liar.port}\"}}\n"
                       f"sources:\n  - {{name: a, type: file, paths: [{tmp_path}/a.log], parser: json}}\n"
                       "outputs:\n  - {type: stdout}\n")
        p = subprocess.Popen(["/usr/bin/time", "-f", "maxrss_kb=%M", sys.executable, "-m", "shipper.cli",
                              "status", "-c", str(cfg)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             cwd=str(REPO))
        try:
            out, err = p.communicate(timeout=45)
        except subprocess.TimeoutExpired:
            p.kill()
            p.communicate()
            raise AssertionError("shipper status still reading the endpoint after 45 s")
        rss = int(err.decode().rsplit("maxrss_kb=", 1)[1].split()[0])
        assert p.returncode == 0, err.decode()
        assert "not reachable" in out.decode(), out.decode()
        assert rss < 150_000, f"{rss} KB"
    finally:
        liar.close()
