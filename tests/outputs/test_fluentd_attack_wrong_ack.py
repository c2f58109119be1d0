"""Attack (issue 12): a server that stores every chunk but answers it with something that is not its
ack (another chunk's id, bytes that are not msgpack, nil). Each resend is stored again, so this is a
protocol refusal like "no ack, 3 times in a row": it must be named and end `run --once` at once,
not be resent at the short transient backoff until --timeout (68 copies of each event in 10 s)."""
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

from tests.peers.forward_server import ForwardServer, _ext_hook, decode_message

pytestmark = pytest.mark.slow

SHIPPER = [sys.executable, "-m", "shipper.cli"]

ANSWERS = {
    "another_chunks_id": lambda chunk: msgpack.packb({"ack": "bm90LXRoaXMtY2h1bms="}),
    "not_msgpack": lambda chunk: b"\xc1\xc1\xc1 not msgpack",
    "nil": lambda chunk: msgpack.packb(None),
}


class WrongAckServer:
    """Decodes and stores each chunk like in_forward, then answers it with `answer(chunk)`."""

    def __init__(self, answer):
        self.answer, self.records = answer, []
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
        try:
            with conn:
                while data := conn.recv(65536):
                    unpacker.feed(data)
                    for msg in unpacker:
                        _, entries, option = decode_message(msg)  # the peer's strict decoding
                        self.records.extend(r for _, r in entries)
                        conn.sendall(self.answer(option.get("chunk")))
        except OSError:
            pass

    def stop(self) -> None:
        self.sock.close()


def config(tmp_path: Path, port: int, ack_timeout: float = 2) -> Path:
    cfg = tmp_path / "shipper.yaml"
    cfg.write_text(f"""
state_dir: {tmp_path / 'state'}
shutdown_timeout: 2
sources:
  - {{name: audit, type: file, paths: ['{tmp_path / "audit.log"}'], parser: json, poll_interval: 0.2}}
outputs:
  - {{type: fluentd, port: {port}, backoff_base: 0.05, backoff_max: 0.3, flush_interval: 0.1, ack_timeout: {ack_timeout:g}}}
""")
    return cfg


@pytest.mark.parametrize("answer", sorted(ANSWERS))
def test_a_server_that_answers_chunks_with_no_ack_of_theirs_is_a_refusal(tmp_path, answer):
    with open(tmp_path / "audit.log", "w") as f:
        for i in range(30):
            f.write(json.dumps({"@timestamp": "2026-01-02T03:04:05Z", "message": f"m{i}", "n": i}) + "\n")
    server = WrongAckServer(ANSWERS[answer])
    try:
        t0 = time.monotonic()
        r = subprocess.run(SHIPPER + ["run", "--once", "--timeout", "30", "-c", str(config(tmp_path, server.port))],
                           capture_output=True, timeout=120)
        took = time.monotonic() - t0
    finally:
        server.stop()
    err = r.stderr.decode()
    assert r.returncode == 1, err
    assert "refused by output fluentd" in err and "not delivered" in err, err
    assert "timeout after 30s" not in err and took < 25, f"ran into --timeout after {took:.0f}s: {err}"
    copies = Counter(rec["generic"]["n"] for rec in server.records)
    assert max(copies.values()) <= 3, f"each resend was stored again: {copies.most_common(1)}"
    # Nothing was checkpointed: a real in_forward gets every event once.
    peer = ForwardServer().start()
    try:
        r = subprocess.run(SHIPPER + ["run", "--once", "--timeout", "50", "-c", str(config(tmp_path, peer.port))],
                           capture_output=True, timeout=120)
        assert r.returncode == 0, r.stderr.decode()
        assert [rec[2]["generic"]["n"] for rec in peer.records] == list(range(30))
    finally:
        peer.stop()
