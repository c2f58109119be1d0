"""The bytes written to a pipe or a socket that its reader has not taken yet, as the kernel counts them.

One ioctl the agent's journal on a syslog socket (shipper.journal_syslog: lines kept until syslog read them) and the
stdout output (a batch acknowledged only once its reader took it) both ask."""
from __future__ import annotations

import fcntl
import struct
import termios


def unread_bytes(fd: int, request: int = termios.TIOCOUTQ) -> int | None:
    """Bytes written to `fd` that its reader has not taken yet: `request` TIOCOUTQ (SIOCOUTQ) on a stream or datagram
    socket (a Unix one: what the peer has not read; a TCP one: what the peer's kernel has not acknowledged), FIONREAD
    on a pipe's write end. None where the kernel cannot be asked (another kind of file, a descriptor closed)."""
    try:
        return struct.unpack("i", fcntl.ioctl(fd, request, b"\0\0\0\0"))[0]
    except OSError:
        return None
