"""shipper.unread.unread_bytes, the one count of what a reader has not taken yet that the journal on a syslog socket
and the stdout output both ask (they had the same ioctl twice): real sockets and a pipe."""
from __future__ import annotations

import os
import socket
import termios
from pathlib import Path

from shipper.api import unread_bytes


def test_a_unix_stream_socket_counts_what_its_peer_has_not_read() -> None:
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with a, b:
        assert unread_bytes(a.fileno()) == 0
        a.sendall(b"x" * 1000)
        assert (unread_bytes(a.fileno()) or 0) >= 1000  # (on a Unix socket the kernel counts its buffers' size)
        b.recv(400)
        assert (unread_bytes(a.fileno()) or 0) > 0
        b.recv(1000)
        assert unread_bytes(a.fileno()) == 0


def test_a_unix_datagram_socket_counts_its_datagrams_unread() -> None:
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    with a, b:
        a.send(b"<30>one line")
        assert unread_bytes(a.fileno()) > 0  # (the kernel counts the datagram with its overhead)
        b.recv(100)
        assert unread_bytes(a.fileno()) == 0


def test_a_pipe_counts_with_fionread(tmp_path: Path) -> None:
    r, w = os.pipe()
    try:
        os.write(w, b"abc\n")
        assert unread_bytes(w, termios.FIONREAD) == 4
        os.read(r, 4)
        assert unread_bytes(w, termios.FIONREAD) == 0
    finally:
        os.close(r)
        os.close(w)


def test_what_cannot_be_asked_is_none(tmp_path: Path) -> None:
    with open(tmp_path / "f", "wb") as f:
        assert unread_bytes(f.fileno()) is None  # a regular file has no reader
    a, b = socket.socketpair()
    b.close()
    fd = a.detach()
    os.close(fd)
    assert unread_bytes(fd) is None  # closed
