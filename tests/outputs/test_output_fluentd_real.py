"""Fluentd output against the Forward peer behaving as a real Fluentd 1.19 does
(docs/research/real-servers.md): in_forward's HELO always carries an auth salt under <security>,
in_unix never acks and drops CompressedPackedForward, deny_keepalive closes after every chunk."""
from __future__ import annotations

import logging
import socket
import ssl
import threading
import time

import msgpack
import pytest

from shipper import metrics
from shipper.config import ConfigError, parse_config
from shipper.errors import PermanentRefusal
from tests.outputs.test_output_fluentd import make_batch, make_output, messages
from tests.outputs.test_output_fluentd_security import KEY, deliver, secret
from tests.peers.forward_server import ForwardServer, _sha512


def errors_counted(name: str) -> float:
    return metrics.REGISTRY.get_sample_value("shipper_output_errors_total", {"output": name}) or 0.0


def test_helo_always_carries_a_salt_and_the_client_answers_it_like_out_forward(tmp_path, caplog):
    """<security> without <user>: the salt is there anyway; out_forward answers with an empty user and
    sha512(salt + "" + "") — the peer checks exactly that."""
    peer = ForwardServer(shared_key=KEY).start()
    try:
        with caplog.at_level(logging.WARNING):
            out = make_output(tmp_path, port=peer.port, shared_key_file=secret(tmp_path, "key", KEY),
                              self_hostname="edge-1")
            deliver(out, make_batch(12))
        assert messages(peer) == list(range(12)) and peer.authenticated == ["edge-1"]
        assert peer.handshake_failures == [] and peer.errors == []
        assert caplog.records == [], "no warning: the salt is no request for a username"
        out.close()
    finally:
        peer.stop()


def test_the_peer_sends_a_binary_salt_like_in_forward():
    peer = ForwardServer(shared_key=KEY).start()
    try:
        with socket.create_connection(peer.address, timeout=5) as s:
            helo = msgpack.Unpacker(raw=False)
            helo.feed(s.recv(4096))
            kind, opts = next(helo)
        assert kind == "HELO" and isinstance(opts["auth"], bytes) and len(opts["auth"]) == 16
        assert isinstance(opts["nonce"], bytes) and opts["keepalive"] is True
    finally:
        peer.stop()


def test_a_client_hashing_something_else_for_the_salt_is_refused_by_the_peer():
    """The peer is strict where in_forward is lenient: an empty user must come with out_forward's digest."""
    peer = ForwardServer(shared_key=KEY).start()
    try:
        with socket.create_connection(peer.address, timeout=5) as s:
            u = msgpack.Unpacker(raw=False)
            u.feed(s.recv(4096))
            _, opts = next(u)
            ping = ["PING", "h", "salt", _sha512("salt", "h", opts["nonce"], KEY), "", "0" * 128]
            s.sendall(msgpack.packb(ping, use_bin_type=True))
            u.feed(s.recv(4096))
            pong = next(u)
        assert pong[:2] == ["PONG", False] and pong[3:] == ["", ""]
    finally:
        peer.stop()


def test_wrong_key_is_named_shared_key_mismatch_and_raised_as_a_refusal(tmp_path):
    peer = ForwardServer(shared_key=KEY, users={"ship": "pw"}).start()
    try:
        out = make_output(tmp_path, port=peer.port, shared_key_file=secret(tmp_path, "key", "wrong"),
                          username="ship", password_file=secret(tmp_path, "pw", "pw"))
        result: list[BaseException] = []
        t = threading.Thread(target=lambda: result.append(_raised(out.send, make_batch(2))), daemon=True)
        t.start()
        t.join(30)
        assert result and isinstance(result[0], PermanentRefusal), result
        assert "shared_key mismatch" in str(result[0]) and "wrong" not in str(result[0])
        assert peer.records == []
        out.close()
    finally:
        peer.stop()


def _raised(fn, *args):
    try:
        fn(*args)
    except BaseException as e:  # noqa: BLE001
        return e
    return None


# --- in_unix ------------------------------------------------------------------------------------

CONF = "sources: [{name: a, type: file, paths: [x], parser: json}]\noutputs:\n"


@pytest.mark.parametrize("keys, words", [
    ("socket: /run/fluent.sock, require_ack: true", "require_ack: true cannot work with a unix socket"),
    ("socket: /run/fluent.sock, compress: true", "compress: true cannot work with a unix socket"),
    ("servers: [{host: a}, {socket: /run/f.sock}]", "require_ack: true cannot work with a unix socket"),
])
def test_unix_socket_refuses_acks_and_compression_at_config_time(keys, words):
    with pytest.raises(ConfigError) as e:
        parse_config(CONF + f"  - {{type: fluentd, {keys}}}\n", "/etc/shipper/shipper.yaml")
    assert words in str(e.value) and "shipper.yaml:3" in str(e.value), str(e.value)
    assert "in_unix" in str(e.value), "the sentence says why"


def test_unix_socket_defaults_to_no_acks_and_tcp_to_acks():
    cfg = parse_config(CONF + "  - {type: fluentd, socket: /run/fluent.sock}\n  - {type: fluentd, name: t, host: h}\n",
                       "s.yaml")
    assert cfg.outputs[0].require_ack is False and cfg.outputs[1].require_ack is True
    cfg = parse_config(CONF + "  - {type: fluentd, servers: [{host: a}, {socket: /s}], require_ack: false}\n", "s.yaml")
    assert cfg.outputs[0].require_ack is False


def test_in_unix_gets_every_record_once_without_acks(tmp_path, caplog):
    path = str(tmp_path / "in_unix.sock")
    peer = ForwardServer(unix_path=path, mode="unix").start()
    try:
        out = make_output(tmp_path, socket=path, batch_size=50)
        with caplog.at_level(logging.WARNING):
            for i in range(5):
                deliver(out, make_batch(100, start=i * 100), within=20)
        assert peer.wait_for_records(500, timeout=30)
        assert messages(peer) == list(range(500)) and peer.acks == 0 and peer.unreadable == [] and peer.errors == []
        assert set(peer.chunks) == {None} and caplog.records == []
        out.close()
    finally:
        peer.stop()


def test_the_in_unix_peer_drops_compressed_chunks_and_never_acks(tmp_path):
    path = str(tmp_path / "u.sock")
    peer = ForwardServer(unix_path=path, mode="unix").start()
    try:
        import gzip
        entries = msgpack.packb([1, {"a": 1}]) + msgpack.packb([2, {"a": 2}])
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(path)
            s.settimeout(1.0)
            s.sendall(msgpack.packb(["t", gzip.compress(entries), {"size": 2, "compressed": "gzip", "chunk": "c1"}],
                                    use_bin_type=True))
            s.sendall(msgpack.packb(["t", entries, {"size": 2, "chunk": "c2"}], use_bin_type=True))
            assert peer.wait_for_records(2, timeout=10)
            with pytest.raises(socket.timeout):
                s.recv(100)  # no ack, ever
        assert [r[2]["a"] for r in peer.records] == [1, 2] and len(peer.unreadable) == 1
    finally:
        peer.stop()


# --- deny_keepalive -----------------------------------------------------------------------------

@pytest.mark.parametrize("secured", [False, True])
def test_deny_keepalive_is_noticed_before_writing(tmp_path, caplog, secured):
    """The server closes after each chunk: every chunk goes on a fresh connection, none is written
    onto a closed one (no reset, no retry, no warning)."""
    peer = ForwardServer(deny_keepalive=True, shared_key=KEY if secured else None).start()
    name = f"fk{int(secured)}"
    try:
        extra = {"shared_key_file": secret(tmp_path, "key", KEY)} if secured else {}
        out = make_output(tmp_path, port=peer.port, name=name, **extra)
        before = errors_counted(name)
        with caplog.at_level(logging.WARNING):
            for i in range(40):
                deliver(out, make_batch(3, start=i * 3), within=20)
        assert messages(peer) == list(range(120)), "each record once"
        assert len(peer.chunks) == 40 and peer.acks == 40 and peer.connections == 40
        assert errors_counted(name) == before and caplog.records == []
        out.close()
    finally:
        peer.stop()


def test_a_server_restart_between_chunks_is_a_quiet_reconnect(tmp_path, caplog):
    peer = ForwardServer().start()
    try:
        out = make_output(tmp_path, port=peer.port, name="fk_restart")
        deliver(out, make_batch(5))
        peer.restart()
        with caplog.at_level(logging.WARNING):
            deliver(out, make_batch(5, start=5))
        assert messages(peer) == list(range(10)) and caplog.records == []
        out.close()
    finally:
        peer.stop()


# --- stable ids ---------------------------------------------------------------------------------

def test_each_record_carries_its_stable_id(tmp_path):
    peer = ForwardServer().start()
    try:
        out = make_output(tmp_path, port=peer.port)
        batch = make_batch(30)
        deliver(out, batch)
        assert [r[2]["_shipper_id"] for r in peer.records] == list(batch.ids)
        assert all("_shipper_id" not in ev for ev in batch.events), "events shared with other outputs untouched"
        out.close()
        out = make_output(tmp_path, port=peer.port, id_field="event_uid")
        deliver(out, make_batch(2, start=30))
        assert [r[2].get("event_uid") for r in peer.records[30:]] == ["id30", "id31"]
        assert "_shipper_id" not in peer.records[30][2]
        out.close()
        out = make_output(tmp_path, port=peer.port, id_field=None)
        deliver(out, make_batch(1, start=40))
        assert "_shipper_id" not in peer.records[-1][2] and "event_uid" not in peer.records[-1][2]
        out.close()
    finally:
        peer.stop()


# --- probe (shipper check --outputs) ------------------------------------------------------------

def test_probe_says_what_it_found_or_why_not(tmp_path):
    peer = ForwardServer(shared_key=KEY, hostname="agg-1").start()
    try:
        ok = make_output(tmp_path, port=peer.port, shared_key_file=secret(tmp_path, "key", KEY))
        found = ok.probe()
        assert f"127.0.0.1:{peer.port}: connected" in found and "handshake passed (server 'agg-1'" in found
        assert peer.records == [], "a probe sends no event"
        bad = make_output(tmp_path, port=peer.port, shared_key_file=secret(tmp_path, "bad", "nope"))
        with pytest.raises(OSError, match="shared_key mismatch"):
            bad.probe()
        ok.close()
        bad.close()
    finally:
        peer.stop()
    down = make_output(tmp_path, port=peer.port)
    with pytest.raises(OSError, match="FAILED"):
        down.probe()


@pytest.mark.parametrize("deny_keepalive", [False, True], ids=["keepalive", "deny_keepalive"])
def test_a_nil_is_a_heartbeat_and_the_probe_tells_a_plain_server_from_a_tls_one(tmp_path, deny_keepalive):
    """As measured on Fluentd 1.18.0: in_forward ignores msgpack nils and acks the chunk after them on
    the same connection; with deny_keepalive it closes after them. check --outputs sends five to find
    a TLS-only server: a plain one, either way, is still "connected" and logs no error."""
    peer = ForwardServer(deny_keepalive=deny_keepalive).start()
    try:
        with socket.create_connection(peer.address, timeout=10) as s:
            s.sendall(b"\xc0" * 5 + msgpack.packb(["t", msgpack.packb([1, {"a": 1}]), {"chunk": "c1", "size": 1}]))
            s.settimeout(5)
            try:
                answer = s.recv(100)
            except ConnectionResetError:
                answer = b""
        assert peer.heartbeats >= 1 and peer.errors == []
        if deny_keepalive:
            assert answer == b"" and peer.records == [], "closed after the first heartbeat; the chunk not read"
        else:
            assert msgpack.unpackb(answer) == {"ack": "c1"} and len(peer.records) == 1
        out = make_output(tmp_path, port=peer.port)
        found = out.probe()
        assert f"127.0.0.1:{peer.port}: connected" in found and peer.errors == [], (found, peer.errors)
        out.close()
    finally:
        peer.stop()


def test_a_chunk_written_before_a_slow_close_goes_again_quietly(tmp_path, caplog):
    """The server closes 0.3 s after each ack, without reading what came in meanwhile: the next chunk,
    written at once onto that connection, is reset. It goes again on a fresh connection without
    backoff, warning or error count, and is stored once."""
    peer = ForwardServer(deny_keepalive=True, close_delay=0.3).start()
    try:
        out = make_output(tmp_path, port=peer.port, name="fk_slowclose", backoff_base=5, backoff_max=10)
        before = errors_counted("fk_slowclose")
        with caplog.at_level(logging.DEBUG, logger="shipper.output.fluentd"):
            for i in range(6):
                deliver(out, make_batch(2, start=i * 2), within=20)
        assert messages(peer) == list(range(12)) and peer.errors == []
        assert errors_counted("fk_slowclose") == before
        assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
        stale = [r for r in caplog.records if "had closed the connection" in r.getMessage()]
        assert stale, "the race this test is about did happen (else it proves nothing)"
        out.close()
    finally:
        peer.stop()


@pytest.mark.parametrize("secured", [False, True])
def test_a_kept_connection_is_asked_once_whether_the_server_keeps_it(tmp_path, secured):
    """A connection goes on carrying chunks once the server has shown it keeps it: an empty chunk acked on it after
    the first chunk (in_forward acks it, stores nothing), asked once per connection; a server with <security> says
    so in its HELO, and is not asked."""
    peer = ForwardServer(shared_key=KEY if secured else None).start()
    try:
        extra = {"shared_key_file": secret(tmp_path, "key", KEY)} if secured else {}
        out = make_output(tmp_path, port=peer.port, name=f"fk_kept{int(secured)}", **extra)
        for i in range(10):
            deliver(out, make_batch(3, start=i * 3), within=20)
        assert messages(peer) == list(range(30)) and peer.errors == []
        assert peer.connections == 1 and len(peer.chunks) == 10
        assert peer.empty_chunks == (0 if secured else 1)
        out.close()
    finally:
        peer.stop()


def test_a_chunk_reset_on_a_kept_connection_is_named_a_possible_repeat(tmp_path, caplog):
    """The second chunk of a connection, stored and then reset before its ack (a crash, a proxy), after the server
    acked the empty chunk asked before it: the server read it, so the resend is named with its count (it was taken
    for deny_keepalive's close racing the chunk and resent unnamed: repeat23, session 21)."""
    peer = ForwardServer().start()
    try:
        out = make_output(tmp_path, port=peer.port, name="fk_kept_reset")
        deliver(out, make_batch(4))
        peer.drop_after_store(1)
        with caplog.at_level(logging.WARNING, logger="shipper.output.fluentd"):
            deliver(out, make_batch(5, start=4), within=20)
        assert messages(peer) == [0, 1, 2, 3] + [4, 5, 6, 7, 8] * 2, "the premise: the second chunk stored twice"
        assert peer.empty_chunks == 1
        named = [r.getMessage() for r in caplog.records if "possible repeat of 5 events" in r.getMessage()]
        assert len(named) == 1, [r.getMessage() for r in caplog.records]
        out.close()
    finally:
        peer.stop()


class _AnswersNoEmptyChunk(ForwardServer):
    """A Forward server that stores and acks chunks of records, and answers nothing to an empty chunk (not
    in_forward, which acks it: a server that may, for all the spec says)."""

    def _store(self, tag, entries, option):
        super()._store(tag, entries, option)
        self.mode = "ack" if entries else "no_ack"  # (read right after, for this message's answer)


def test_a_server_that_does_not_answer_the_question_gets_a_connection_per_chunk(tmp_path, caplog):
    """The empty chunk asked before a reuse goes unanswered (a few seconds at most): the chunk goes on a fresh
    connection at once, without a warning or a backoff, and the server is not asked again: each chunk on a connection
    of its own from then on (not a wait for every other chunk, nor an outage)."""
    peer = _AnswersNoEmptyChunk().start()
    try:
        out = make_output(tmp_path, port=peer.port, name="fk_noanswer", ack_timeout=3)
        with caplog.at_level(logging.WARNING, logger="shipper.output.fluentd"):
            for i in range(6):
                deliver(out, make_batch(3, start=i * 3), within=30)
        assert messages(peer) == list(range(18)) and peer.errors == []
        assert peer.empty_chunks == 1, "asked once"
        assert peer.connections == 6, "the first carried a chunk and the question; then one a chunk"
        assert caplog.records == []
        out.close()
    finally:
        peer.stop()


def test_one_refusing_server_is_left_alone_while_another_takes_the_chunks(tmp_path, caplog):
    good = ForwardServer(shared_key=KEY, hostname="good").start()
    bad = ForwardServer(shared_key="another-key", hostname="bad").start()
    try:
        out = make_output(tmp_path, shared_key_file=secret(tmp_path, "key", KEY), name="fk_two",
                          servers=[{"host": "127.0.0.1", "port": bad.port, "weight": 1000},
                                   {"host": "127.0.0.1", "port": good.port, "weight": 1}])
        with caplog.at_level(logging.WARNING):
            for i in range(10):
                deliver(out, make_batch(2, start=i * 2), within=20)
        assert messages(good) == list(range(20)) and bad.records == []
        assert bad.handshake_failures == ["shared_key mismatch"], "tried once, then left alone (refused_retry)"
        assert [r.getMessage() for r in caplog.records] == [
            "fluentd server refused us; it is left alone while others can take the chunks"]
        out.close()
    finally:
        good.stop()
        bad.stop()


def test_transient_trouble_is_what_the_worker_reports_while_it_lasts(tmp_path):
    from shipper.output_worker import OutputWorker

    port = ForwardServer().start()
    port.stop()  # nothing listens there now
    out = make_output(tmp_path, port=port.port, name="fk_down")
    worker = OutputWorker("fk_down", out, 4, 1 << 20, out.ctx.stop)
    assert worker.error_now() is None
    t = threading.Thread(target=lambda: _raised(out.send, make_batch(1)), daemon=True)
    t.start()
    try:
        deadline = threading.Event()
        for _ in range(200):
            if worker.error_now():
                break
            deadline.wait(0.05)
        assert "Connection refused" in (worker.error_now() or ""), worker.error_now()
    finally:
        out.ctx.stop.set()
        t.join(10)
        out.close()


def test_a_server_that_never_acks_is_a_refusal_after_three_timeouts(tmp_path):
    """Stores every chunk, answers none (in_unix behind a relay): not retried forever as if slow."""
    peer = ForwardServer(mode="no_ack").start()
    try:
        out = make_output(tmp_path, port=peer.port, ack_timeout=0.3, name="fk_never")
        e = _raised(out.send, make_batch(4))
        assert isinstance(e, PermanentRefusal) and "no ack within 0.3s, 3 times in a row" in str(e), e
        assert messages(peer) == list(range(4)) * 3, "the chunk was stored 3 times: why this stops"
        out.close()
    finally:
        peer.stop()


from hypothesis import (  # noqa: E402
    HealthCheck,
    given,
    settings,
    strategies as st,  # noqa: E402
)

# No whitespace of any kind: a secret file is read trimmed (shipper.secrets.read_secret, str.strip), which takes
# U+2028/U+2029 (categories Zl, Zp) off its ends as well: a key '\u2028' was "empty" and refused.
_word = st.text(st.characters(min_codepoint=33, max_codepoint=0x2FFF,
                              blacklist_categories=("Cs", "Zs", "Zl", "Zp", "Cc")), min_size=1, max_size=24)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(server_key=_word, same_key=st.booleans(), client_key=_word, hostname=_word,
       users=st.one_of(st.none(), st.dictionaries(_word, _word, min_size=1, max_size=3)),
       login=st.booleans(), right_password=st.booleans())
def test_handshake_passes_exactly_when_key_and_login_match(tmp_path_factory, server_key, same_key, client_key,
                                                           hostname, users, login, right_password):
    """Any key, host name (any script) and user table: the handshake passes iff the key is the same
    and, when the server has users, the login is one of them; otherwise the refusal says which."""
    tmp = tmp_path_factory.mktemp("hs")
    key = server_key if same_key else client_key
    user = password = None
    if login and users:
        user = next(iter(users))
        password = users[user] if right_password else users[user] + "x"
    elif login:
        user, password = "someone", "pw"  # a login the server does not ask for: in_forward ignores it
    peer = ForwardServer(shared_key=server_key, users=users, hostname="peer-" + hostname).start()
    try:
        extra = {"username": user, "password_file": secret(tmp, "pw", password)} if user else {}
        out = make_output(tmp, port=peer.port, shared_key_file=secret(tmp, "key", key), self_hostname=hostname,
                          name="fk_prop", **extra)
        e = _raised(deliver, out, make_batch(1), 20)
        out.close()
        key_ok = key == server_key
        login_ok = not users or (user is not None and right_password)
        if key_ok and login_ok:
            assert e is None and messages(peer) == [0] and peer.authenticated == [hostname]
        else:
            assert isinstance(e, PermanentRefusal) and peer.records == []
            assert ("shared_key mismatch" if not key_ok else "username/password mismatch") in str(e)
    finally:
        peer.stop()


@pytest.mark.parametrize("require_ack", [True, False])
def test_no_shared_key_for_a_secured_server_is_named(tmp_path, require_ack):
    """in_forward with <security> speaks first (HELO) and drops a chunk sent instead of PING: the
    client says to set shared_key_file instead of resending (acks) or writing into the void (no acks)."""
    peer = ForwardServer(shared_key=KEY).start()
    try:
        out = make_output(tmp_path, port=peer.port, require_ack=require_ack, name=f"fk_nokey{int(require_ack)}")
        e = None
        for i in range(100):  # without acks a chunk may go before the HELO is seen: lost, as documented
            e = _raised(deliver, out, make_batch(1, start=i), 20)
            if e is not None or require_ack:
                break
            time.sleep(0.05)
        assert isinstance(e, PermanentRefusal) and "set shared_key_file" in str(e), e
        assert peer.records == []
        out.close()
    finally:
        peer.stop()


def test_in_unix_killed_before_reading_a_chunk_gets_it_again(tmp_path, caplog):
    """Without acks, a chunk counts as delivered only once in_unix has read it off the socket; a
    Fluentd frozen and then killed with the chunk unread gets it again after its restart: nothing lost."""
    path = str(tmp_path / "in_unix.sock")
    peer = ForwardServer(unix_path=path, mode="unix").start()
    try:
        out = make_output(tmp_path, socket=path, name="fk_unixkill", ack_timeout=60)
        deliver(out, make_batch(3))
        assert peer.wait_for_records(3, timeout=10)
        peer.frozen.set()
        result: list = []
        t = threading.Thread(target=lambda: result.append(_raised(deliver, out, make_batch(3, start=3), 60)),
                             daemon=True)
        t.start()
        t.join(1.0)
        assert t.is_alive(), f"not delivered while Fluentd has not read it: {result}"
        peer.stop()  # killed while frozen: the unread chunk is gone with it
        peer.frozen.clear()
        peer.start()
        t.join(30)
        assert result == [None]
        assert peer.wait_for_records(6, timeout=10) and messages(peer) == list(range(6))
        out.close()
    finally:
        peer.stop()


@pytest.mark.parametrize("require_ack", [True, False])
@pytest.mark.parametrize("version", ["TLSv1.2", "TLSv1.3"])
def test_tls_connection_is_kept_between_chunks(tmp_path, require_ack, version):
    """in_forward's <transport tls> speaks only TLS 1.2 unless told otherwise (`version TLSv1_2`, the
    default: Fluentd 1.18 negotiated TLSv1.2 by hand); with TLS 1.3 session tickets make the socket
    readable after the handshake: that is no close either."""
    import trustme

    from tests.outputs.test_output_fluentd_security import server_tls

    ca = trustme.CA()
    ctx = server_tls(ca)
    ctx.minimum_version = ctx.maximum_version = getattr(ssl.TLSVersion, version.replace(".", "_"))
    peer = ForwardServer(tls=ctx).start()
    try:
        ca_file = tmp_path / "ca.pem"
        ca.cert_pem.write_to_path(str(ca_file))
        out = make_output(tmp_path, port=peer.port, tls=True, tls_ca_file=str(ca_file), require_ack=require_ack,
                          name=f"fk_tls{int(require_ack)}")
        assert f"connected, {version}, certificate verified" in out.probe()
        for i in range(5):
            deliver(out, make_batch(2, start=i * 2))
        assert peer.wait_for_records(10) and messages(peer) == list(range(10))
        assert peer.connections == 2 and peer.errors == [], "one for the probe, one kept for the five chunks"
        out.close()
    finally:
        peer.stop()
