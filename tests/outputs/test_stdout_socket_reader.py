"""stdout into a Unix stream socket (socat EXEC, systemd's StandardOutput=socket) is acknowledged as into a pipe: once
its reader took every byte (SIOCOUTQ counts what the peer has not read), and a reader that goes away with bytes unread
is told from one that read everything and then closed (exam26d: batches were acknowledged unread in the socket's
buffer and lost with the reader; tests/e2e/test_attack26_stdout_socket_reader_gone_loss_unnamed.py runs the agent)."""
from __future__ import annotations

import os
import socket
import threading

from shipper_plugins.outputs.stdout import _reader_count, _taken, _unread


def test_a_unix_stream_socket_counts_what_its_reader_has_not_taken():
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with ours, theirs:
        request = _reader_count(ours.fileno())
        assert request is not None
        ours.sendall(b"x" * 5000)
        assert _unread(ours.fileno(), request) >= 5000  # (the kernel's count of the buffers: at least the bytes)
        theirs.recv(5000)
        assert _unread(ours.fileno(), request) == 0


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


def test_files_terminals_and_tcp_sockets_count_no_reader(tmp_path):
    with open(tmp_path / "f", "wb") as f:
        assert _reader_count(f.fileno()) is None
    server = socket.create_server(("127.0.0.1", 0))
    with server, socket.create_connection(server.getsockname()) as tcp:
        assert _reader_count(tcp.fileno()) is None
    r, w = os.pipe()
    try:
        assert _reader_count(w) is not None
    finally:
        os.close(r)
        os.close(w)
