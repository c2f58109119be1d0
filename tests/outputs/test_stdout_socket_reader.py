"""stdout into a Unix stream socket (socat EXEC, systemd's StandardOutput=socket) is acknowledged as into a pipe: once
its reader took every byte (SIOCOUTQ counts what the peer has not read), and a reader that goes away with bytes unread
is told from one that read everything and then closed (exam26d: batches were acknowledged unread in the socket's
buffer and lost with the reader; tests/e2e/test_attack26_stdout_socket_reader_gone_loss_unnamed.py runs the agent)."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import termios
import threading

from shipper.api import unread_bytes
from shipper_plugins.outputs.stdout import _reader_count, _taken
from tests.outputs.test_stdout_faults import SHIPPER


def test_a_unix_stream_socket_counts_what_its_reader_has_not_taken():
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with ours, theirs:
        request = _reader_count(ours.fileno())
        assert request == termios.TIOCOUTQ, "a stream socket's unread bytes are asked with SIOCOUTQ (TIOCOUTQ)"
        ours.sendall(b"x" * 5000)
        assert unread_bytes(ours.fileno(), request) >= 5000  # (the kernel's count of the buffers: at least the bytes)
        theirs.recv(5000)
        assert unread_bytes(ours.fileno(), request) == 0


def test_taken_waits_for_the_reader_and_tells_a_reader_gone_with_bytes_unread():
    stop = threading.Event()
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with ours:
        request = _reader_count(ours.fileno())
        ours.sendall(b"line\n" * 1000)
        reader = threading.Timer(0.3, lambda: (theirs.recv(1 << 20), theirs.close()))
        reader.start()
        assert _taken(ours.fileno(), stop, request), "read whole, then closed: taken"
        reader.join()
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with ours:
        ours.sendall(b"line\n" * 1000)
        theirs.recv(100)
        threading.Timer(0.3, theirs.close).start()
        assert not _taken(ours.fileno(), stop, request), "closed with bytes unread (freed, the count is 0): not taken"


def test_files_count_no_reader_pipes_and_tcp_sockets_do(tmp_path):
    with open(tmp_path / "f", "wb") as f:
        assert _reader_count(f.fileno()) is None
    server = socket.create_server(("127.0.0.1", 0))
    with server, socket.create_connection(server.getsockname()) as tcp:
        assert _reader_count(tcp.fileno()) is not None  # (what the peer's kernel has not acknowledged: the most TCP tells)
    r, w = os.pipe()
    try:
        assert _reader_count(w) is not None
    finally:
        os.close(r)
        os.close(w)


def test_stdout_a_tcp_socket_is_said_once_and_every_event_reaches_a_reader_that_reads(tmp_path):
    """exam26d: over TCP what the reader read cannot be known: said once at the first batch (what is lost if it goes
    away), and every batch waits for the peer's kernel's acknowledgement."""
    log = tmp_path / "app.log"
    log.write_text("".join(json.dumps({"n": i}) + "\n" for i in range(2000)))
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(json.dumps({"state_dir": str(tmp_path / "state"), "sources": [
        {"name": "app", "type": "file", "paths": [str(log)], "parser": "json", "batch_size": 100}],
        "outputs": [{"type": "stdout"}]}))
    server = socket.create_server(("127.0.0.1", 0))
    with server, socket.create_connection(server.getsockname()) as ours:
        theirs, _ = server.accept()
        got = bytearray()
        reader = threading.Thread(target=lambda: [got.extend(b) for b in iter(lambda: theirs.recv(65536), b"")])
        reader.start()
        run = subprocess.run([*SHIPPER, "run", "--once", "-c", str(cfg)], stdout=ours.fileno(), stderr=subprocess.PIPE,
                             timeout=180)
        ours.shutdown(socket.SHUT_WR)
        reader.join(60)
        theirs.close()
    err = run.stderr.decode()
    assert run.returncode == 0, err[-2000:]
    assert sorted(json.loads(ln)["generic"]["n"] for ln in bytes(got).splitlines()) == list(range(2000))
    assert err.count("stdout is a TCP socket") == 1, err[-2000:]
