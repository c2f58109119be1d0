"""Fluentd output with in_forward's `<transport tls>` and `<security>` (shared key, users), against the
strict Forward peer (tests/peers/forward_server.py): TLS with a trustme CA, the HELO/PING/PONG
handshake checked digest by digest, and a fake server that does not know the key."""
from __future__ import annotations

import logging
import socket
import ssl
import threading

import msgpack
import pytest
import trustme

from shipper.config import ConfigError, parse_config
from shipper.errors import PermanentRefusal
from tests.outputs.test_output_fluentd import make_batch, make_output, messages
from tests.peers.forward_server import ForwardServer

KEY = "s3cret-shared-key"


@pytest.fixture(scope="module")
def ca():
    return trustme.CA()


def server_tls(ca) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(ctx)
    return ctx


def secret(tmp_path, name: str, value: str) -> str:
    path = tmp_path / name
    path.write_text(value + "\n")
    path.chmod(0o600)  # as a secret file should be (shipper warns otherwise)
    return str(path)


def refusal(out, within: float = 30.0) -> PermanentRefusal:
    """out.send of a batch the server refuses: it must end with PermanentRefusal (for the core to log
    once and back off), not retry forever; `within` seconds bound the test."""
    timer = threading.Timer(within, out.ctx.stop.set)
    timer.start()
    try:
        e = _raised(out.send, make_batch(3))
    finally:
        timer.cancel()
    assert isinstance(e, PermanentRefusal), repr(e)
    return e


def deliver(out, batch, within: float = 30.0) -> None:
    """out.send, which retries forever: a connection that never gets secured fails the test in
    `within` seconds (Stopping) instead of hanging it."""
    timer = threading.Timer(within, out.ctx.stop.set)
    timer.start()
    try:
        out.send(batch)
    finally:
        timer.cancel()


def logged(caplog) -> str:
    """What the operator reads: each message with its `error` field (shipper logs logfmt fields)."""
    return "\n".join(f"{r.getMessage()} error={getattr(r, 'error', '')}" for r in caplog.records)


def _raised(fn, *args) -> BaseException | None:
    try:
        fn(*args)
    except BaseException as e:  # noqa: BLE001  (the test inspects it)
        return e
    return None


def test_shared_key_handshake_then_acked_chunks(tmp_path, caplog):
    peer = ForwardServer(shared_key=KEY).start()
    try:
        with caplog.at_level(logging.DEBUG):
            out = make_output(tmp_path, port=peer.port, shared_key_file=secret(tmp_path, "key", KEY),
                              self_hostname="shipper-host")
            deliver(out, make_batch(20))
            deliver(out, make_batch(5, start=20))  # same connection: one handshake
        assert messages(peer) == list(range(25)) and peer.errors == []
        assert peer.authenticated == ["shipper-host"]
        assert "shared key" in out.describe() and KEY not in out.describe() and KEY not in repr(out.config)
        assert KEY not in caplog.text and KEY not in logged(caplog)
        out.close()
    finally:
        peer.stop()


def test_wrong_shared_key_is_refused_and_nothing_delivered(tmp_path, caplog):
    peer = ForwardServer(shared_key=KEY).start()
    try:
        out = make_output(tmp_path, port=peer.port, shared_key_file=secret(tmp_path, "key", "not-the-key"))
        with caplog.at_level(logging.WARNING):
            e = refusal(out)
            e2 = refusal(out)  # tried again when the core asks, and named the same way
        assert "shared_key mismatch" in str(e) and str(e) == str(e2) and "not-the-key" not in str(e)
        assert peer.records == [] and peer.handshake_failures == ["shared_key mismatch"] * 2
        # Every server refused: the output raises and leaves the log line to the core (once, see
        # test_output_fluentd_refusals.py), rather than warn per attempt.
        assert "shared_key mismatch" not in logged(caplog)
        assert "username" not in logged(caplog)
        out.close()
    finally:
        peer.stop()


def test_user_login_and_wrong_password(tmp_path):
    peer = ForwardServer(shared_key=KEY, users={"ship": "pw-1"}).start()
    try:
        out = make_output(tmp_path, port=peer.port, shared_key_file=secret(tmp_path, "key", KEY),
                          username="ship", password_file=secret(tmp_path, "pw", "pw-1"))
        deliver(out, make_batch(4))
        assert messages(peer) == [0, 1, 2, 3]
        out.close()
        bad = make_output(tmp_path, port=peer.port, shared_key_file=secret(tmp_path, "key", KEY),
                          username="ship", password_file=secret(tmp_path, "pw2", "pw-2"))
        assert "username/password mismatch" in str(refusal(bad))
        assert peer.handshake_failures == ["username/password mismatch"]
        assert messages(peer) == [0, 1, 2, 3]
        bad.close()
        # No login at all: in_forward (user_auth) gives the same reason; the fix is to log in.
        anonymous = make_output(tmp_path, port=peer.port, shared_key_file=secret(tmp_path, "key", KEY))
        assert "set username and password_file" in str(refusal(anonymous))
        assert peer.handshake_failures == ["username/password mismatch"] * 2 and messages(peer) == [0, 1, 2, 3]
        anonymous.close()
    finally:
        peer.stop()


def test_a_server_that_does_not_know_the_key_gets_no_data(tmp_path, caplog):
    """A listener that answers every PING with success but cannot compute the server digest (it
    does not know the key): the client must not send a single record to it."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    received: list[bytes] = []

    def impostor() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                conn.sendall(msgpack.packb(["HELO", {"nonce": b"n" * 16, "auth": "", "keepalive": True}]))
                conn.recv(65536)  # the PING
                conn.sendall(msgpack.packb(["PONG", True, "", "impostor", "0" * 128]))
                conn.settimeout(1.0)
                try:
                    while data := conn.recv(65536):
                        received.append(data)
                except OSError:
                    pass

    threading.Thread(target=impostor, daemon=True).start()
    out = make_output(tmp_path, port=listener.getsockname()[1], shared_key_file=secret(tmp_path, "key", KEY))
    with caplog.at_level(logging.WARNING):
        assert "does not know our shared key" in str(refusal(out))
    assert received == []
    out.close()
    listener.close()


def test_tls_with_the_ca_file(tmp_path, ca):
    peer = ForwardServer(tls=server_tls(ca)).start()
    try:
        ca_file = tmp_path / "ca.pem"
        ca.cert_pem.write_to_path(str(ca_file))
        out = make_output(tmp_path, port=peer.port, host="127.0.0.1", tls=True, tls_ca_file=str(ca_file))
        deliver(out, make_batch(10))
        assert messages(peer) == list(range(10)) and peer.errors == []
        assert "TLS" in out.describe()
        out.close()
    finally:
        peer.stop()


def test_tls_and_shared_key_together(tmp_path, ca):
    peer = ForwardServer(tls=server_tls(ca), shared_key=KEY).start()
    try:
        ca_file = tmp_path / "ca.pem"
        ca.cert_pem.write_to_path(str(ca_file))
        out = make_output(tmp_path, port=peer.port, host="127.0.0.1", tls=True, tls_ca_file=str(ca_file),
                          shared_key_file=secret(tmp_path, "key", KEY), self_hostname="h1")
        deliver(out, make_batch(7))
        assert messages(peer) == list(range(7)) and peer.authenticated == ["h1"]
        out.close()
    finally:
        peer.stop()


def test_tls_certificate_from_another_ca_is_refused(tmp_path, ca, caplog):
    peer = ForwardServer(tls=server_tls(ca)).start()
    try:
        other = tmp_path / "other-ca.pem"
        trustme.CA().cert_pem.write_to_path(str(other))
        out = make_output(tmp_path, port=peer.port, host="127.0.0.1", tls=True, tls_ca_file=str(other))
        with caplog.at_level(logging.WARNING):
            assert "certificate does not verify" in str(refusal(out))
        assert peer.records == []
        out.close()
    finally:
        peer.stop()


@pytest.mark.parametrize("keys, words", [
    ("host: 127.0.0.1, tls_ca_file: ca.pem", "without tls: true"),
    ("tls: true, socket: /run/f.sock", "not unix sockets"),
    ("host: 127.0.0.1, tls: true, tls_cert_file: c.pem", "both tls_cert_file and tls_key_file"),
    ("host: 127.0.0.1, username: u", "username and password_file go together"),
    ("host: 127.0.0.1, shared_key_file: /nonexistent/key", "cannot read shared key file /nonexistent/key"),
])
def test_security_config_errors_name_file_line_and_key(keys, words):
    text = ("sources: [{name: a, type: file, paths: [x], parser: json}]\n"
            f"outputs:\n  - {{type: fluentd, {keys}}}\n")
    with pytest.raises(ConfigError) as e:
        parse_config(text, "/etc/shipper/shipper.yaml")
    assert words in str(e.value) and "shipper.yaml:3" in str(e.value), str(e.value)
