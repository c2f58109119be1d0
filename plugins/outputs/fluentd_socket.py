"""Reading the server's answers (handshake messages, acks) off a Forward connection."""
from __future__ import annotations

import socket
import time
from typing import Any

import msgpack


def read_message(sock: socket.socket, unpacker: msgpack.Unpacker, timeout: float, error: type[OSError],
                 what: str, garbage: type[OSError] | None = None) -> Any:
    """The next msgpack message the server sends, within `timeout` seconds. Raises `error` (an OSError,
    so the caller closes the connection and sends again) on a timeout or a closed connection, and
    `garbage` (default: `error`) on bytes that are not msgpack or a message too large. The socket's
    timeout is left as it was."""
    garbage = garbage or error
    deadline = time.monotonic() + timeout
    before = sock.gettimeout()
    try:
        while True:
            try:
                for message in unpacker:
                    return message
            except (ValueError, msgpack.UnpackException) as e:
                raise garbage(f"garbled {what}: {e}") from None
            left = deadline - time.monotonic()
            if left <= 0:
                raise error(f"no {what} within {timeout}s")
            sock.settimeout(left)
            try:
                data = sock.recv(4096)
            except socket.timeout:
                raise error(f"no {what} within {timeout}s") from None
            if not data:
                raise error(f"connection closed before the {what}")
            try:
                unpacker.feed(data)
            except msgpack.BufferFull:
                raise garbage(f"{what} too large") from None
    finally:
        sock.settimeout(before)
