"""The Forward protocol v1 handshake (HELO → PING → PONG) of a Fluentd in_forward with a
`<security>` section: both ends prove they know the shared key, and the client may log in.

From the spec (github.com/fluent/fluentd/wiki/Forward-Protocol-Specification-v1, "Handshake
Messages"): the server speaks first, `["HELO", {"nonce": …, "auth": salt or "", "keepalive": …}]`;
the client answers `["PING", self_hostname, shared_key_salt,
sha512_hex(shared_key_salt + self_hostname + nonce + shared_key), username or "",
sha512_hex(auth_salt + username + password) or ""]`; the server ends with `["PONG", authenticated,
reason, server_hostname, sha512_hex(shared_key_salt + server_hostname + nonce + shared_key)]`,
which the client checks: a server that does not know the key cannot fake it. fluent-logger has no
handshake, so this is written here.
"""
from __future__ import annotations

import hashlib
import os
import socket
from dataclasses import dataclass
from typing import Any

import msgpack

from shipper_plugins.outputs.fluentd_socket import read_message


class HandshakeError(OSError):
    """The handshake did not complete (closed, timed out, garbled): not a delivery, try again."""


class HandshakeRefused(HandshakeError):
    """The server said no (PONG false: a wrong shared key, user or password), could not prove it
    knows the shared key, or is ourselves: sending again unchanged will not help."""


@dataclass(frozen=True)
class Credentials:
    shared_key: str
    self_hostname: str
    username: str = ""
    password: str = ""

    def __repr__(self) -> str:  # never a secret in a log line or a traceback
        return f"Credentials(self_hostname={self.self_hostname!r}, username={self.username!r})"


def sha512_hex(*parts: Any) -> str:
    h = hashlib.sha512()
    for p in parts:
        h.update(p if isinstance(p, bytes) else str(p).encode())
    return h.hexdigest()


def handshake(sock: socket.socket, creds: Credentials, timeout: float) -> tuple[str, bool]:
    """Run the handshake on a fresh connection: (the server's hostname, whether it keeps the
    connection open after a chunk). Raises HandshakeError (an OSError) if it fails,
    HandshakeRefused if the server said no."""
    unpacker = msgpack.Unpacker(raw=False, max_buffer_size=1 << 16)
    helo = read_message(sock, unpacker, timeout, HandshakeError, "handshake answer")
    if not (isinstance(helo, list) and len(helo) == 2 and helo[0] == "HELO" and isinstance(helo[1], dict)):
        raise HandshakeError(f"expected HELO from the server, got {helo!r:.100}")
    nonce = helo[1].get("nonce") or b""
    # in_forward with <security> sends a non-empty auth salt always, with or without <user>
    # sections (in_forward.rb, generate_helo); it checks the user only with user_auth. So a salt
    # is no sign that a login is required: like out_forward (handshake_protocol.rb), we answer it
    # with our username and password, both empty when none is configured.
    auth_salt = helo[1].get("auth") or b""
    salt = os.urandom(16).hex()
    ping = ["PING", creds.self_hostname, salt, sha512_hex(salt, creds.self_hostname, nonce, creds.shared_key)]
    if auth_salt:
        ping += [creds.username, sha512_hex(auth_salt, creds.username, creds.password)]
    else:
        ping += ["", ""]
    sock.sendall(msgpack.packb(ping, use_bin_type=True))
    pong = read_message(sock, unpacker, timeout, HandshakeError, "handshake answer")
    if not (isinstance(pong, list) and len(pong) == 5 and pong[0] == "PONG"):
        raise HandshakeError(f"expected PONG from the server, got {pong!r:.100}")
    _, authenticated, reason, server_hostname, digest = pong
    if authenticated is not True:
        # in_forward's reasons: "shared_key mismatch", "username/password mismatch",
        # "anonymous source host '…' denied", "invalid ping message".
        hint = _NO_LOGIN_HINT if reason == "username/password mismatch" and not creds.username else _HINTS.get(reason, "")
        raise HandshakeRefused(f"the server refused the handshake: {reason or 'no reason given'}" + hint)
    if server_hostname == creds.self_hostname:
        # out_forward's check: one host's output looping into its own input is a config error.
        raise HandshakeRefused(f"the server has our own self_hostname {server_hostname!r}")
    if digest != sha512_hex(salt, server_hostname, nonce, creds.shared_key):
        raise HandshakeRefused("the server does not know our shared key (its PONG digest is wrong): not sending to it")
    return str(server_hostname), helo[1].get("keepalive") is not False


# in_forward with `user_auth true` answers a client that sends no username with the same reason
# (Fluentd 1.18, by hand): the fix is to log in, not to change a password.
_NO_LOGIN_HINT = " (the server's <security> has user_auth and <user> sections: set username and password_file)"
_HINTS = {
    "shared_key mismatch": " (shared_key_file does not hold the key of the server's <security> section)",
    "username/password mismatch": " (username/password_file do not match a <user> of the server's <security>)",
}
