"""Fluentd output against the strict Forward peer (tests/peers/forward_server.py) over real sockets."""
from __future__ import annotations

import copy
import threading
import time
from datetime import datetime, timedelta, timezone

import msgpack
import pytest
from fluent.sender import EventTime, FluentSender
from hypothesis import given, settings, strategies as st

from shipper import metrics
from shipper.config import ConfigError, parse_config
from shipper.plugin import Batch, OutputContext, Stopping
from shipper_plugins.outputs.fluentd import FluentdOutput, FluentdOutputConfig
from shipper_plugins.outputs.fluentd_forward import event_time_ns
from tests.peers.forward_server import ForwardServer, ProtocolError, _ext_hook, decode_message


def make_batch(n: int, tag: str = "audit.datameer", start: int = 0) -> Batch:
    events = [{"@timestamp": f"2024-05-01T12:00:{i % 60:02d}.123456789Z", "ecs": {"version": "9.4.0"},
               "event": {"dataset": "datameer.audit", "kind": "event"}, "message": f"event {i}",
               "user": {"name": f"u{i}"}, "n": i} for i in range(start, start + n)]
    return Batch("src", tag, events, [f"id{i}" for i in range(start, start + n)], 100 * n)


def make_output(tmp_path, stop=None, **cfg) -> FluentdOutput:
    cfg.setdefault("name", "fluentd")
    cfg.setdefault("backoff_base", 0.05)
    cfg.setdefault("backoff_max", 0.2)
    out = FluentdOutput(FluentdOutputConfig(**cfg), OutputContext(cfg["name"], stop or threading.Event(), str(tmp_path)))
    out.start()
    return out


@pytest.fixture
def peer():
    s = ForwardServer().start()
    yield s
    s.stop()


def messages(peer) -> list[int]:
    return [r[2]["n"] for r in peer.records]


def test_packed_forward_with_acks_roundtrip(peer, tmp_path):
    out = make_output(tmp_path, port=peer.port, tag_prefix="fluent")
    batch = make_batch(25)
    before = copy.deepcopy(batch.events)
    out.send(batch)
    assert batch.events == before, "events are shared between outputs and must not be modified"
    assert peer.errors == []
    assert messages(peer) == list(range(25))
    assert {r[0] for r in peer.records} == {"fluent.audit.datameer"}
    # Nanosecond EventTime taken from @timestamp.
    expected = int(datetime(2024, 5, 1, 12, 0, 0, tzinfo=timezone.utc).timestamp()) * 10**9 + 123456789
    assert peer.records[0][1] == expected
    assert peer.records[0][2] == {**before[0], "_shipper_id": "id0"}, "the record, with its stable id added"
    assert all(c for c in peer.chunks), "each chunk carries a chunk id"
    assert peer.acks == len(peer.chunks)
    out.close()


def test_chunks_are_cut_by_events_and_bytes(peer, tmp_path):
    out = make_output(tmp_path, port=peer.port, batch_size=4)
    out.send(make_batch(10))
    assert len(peer.chunks) == 3 and messages(peer) == list(range(10))
    out.close()
    peer.chunks.clear()
    out = make_output(tmp_path, port=peer.port, batch_bytes=1024)
    out.send(make_batch(40))
    assert len(peer.chunks) > 1 and messages(peer)[-40:] == list(range(40))
    out.close()


def test_compressed_packed_forward(peer, tmp_path):
    out = make_output(tmp_path, port=peer.port, compress=True)
    out.send(make_batch(30))
    assert peer.errors == [] and messages(peer) == list(range(30))
    out.close()


def test_unix_socket(tmp_path):
    peer = ForwardServer(unix_path=str(tmp_path / "fluentd.sock"), mode="unix").start()
    try:
        out = make_output(tmp_path, socket=str(tmp_path / "fluentd.sock"))
        out.send(make_batch(5))  # no acks from in_unix: delivered once it has read the chunk
        assert peer.wait_for_records(5) and messages(peer) == list(range(5))
        assert peer.chunks == [None], "no chunk option: in_unix would never answer it"
        out.close()
    finally:
        peer.stop()


def test_peer_decodes_message_and_forward_modes_from_the_real_client(peer):
    # Message mode, as fluent-logger's own FluentSender sends it (nanosecond EventTime).
    sender = FluentSender("app", host="127.0.0.1", port=peer.port, nanosecond_precision=True)
    assert sender.emit_with_time("login", EventTime.from_unix_nano(1_700_000_000_000_000_007), {"a": 1})
    sender.close()
    assert peer.wait_for_records(1, 10)
    assert peer.records[0] == ("app.login", 1_700_000_000_000_000_007, {"a": 1})
    # Forward mode, with integer times.
    tag, entries, option = decode_message(["t", [[1, {"x": 1}], [2, {"x": 2}]], {"size": 2, "chunk": "abc"}])
    assert tag == "t" and entries == [(10**9, {"x": 1}), (2 * 10**9, {"x": 2})] and option["chunk"] == "abc"


@pytest.mark.parametrize("bad", [
    ["t", b"".join(msgpack.packb([1, {"a": 1}]) for _ in range(2)), {"size": 3}],  # size mismatch
    ["t", msgpack.packb([1, {"a": 1}])[:-1], {}],  # truncated entry
    ["t", [[msgpack.ExtType(0, b"\0" * 7), {}]]],  # EventTime of 7 bytes
    ["t", [[1, "not a map"]]],
    ["", 1, {"a": 1}],  # empty tag
    ["t", [[1, {}]], {"compressed": "gzip"}],  # compressed outside PackedForward
    ["t", 1, {}, {"bogus": 1}],
])
def test_peer_rejects_malformed_messages(bad):
    with pytest.raises(ProtocolError):  # decoding the bytes as the peer does, ext types included
        decode_message(msgpack.unpackb(msgpack.packb(bad, use_bin_type=True), raw=False, ext_hook=_ext_hook))


def test_delayed_ack_within_timeout_is_delivered_once(tmp_path):
    peer = ForwardServer(mode="delay_ack", ack_delay=0.5).start()
    try:
        out = make_output(tmp_path, port=peer.port, ack_timeout=5)
        out.send(make_batch(5))
        assert messages(peer) == list(range(5))
        out.close()
    finally:
        peer.stop()


def test_no_ack_resends_until_acked(tmp_path):
    peer = ForwardServer(mode="no_ack").start()
    try:
        retries = metrics.output_retries.labels("fluentd_noack")
        before = retries.value
        out = make_output(tmp_path, port=peer.port, ack_timeout=0.5, name="fluentd_noack")
        t = threading.Thread(target=out.send, args=(make_batch(5),))
        t.start()
        assert peer.wait_for_records(5, 10)
        time.sleep(0.2)
        assert t.is_alive(), "send must not return before an ack"
        peer.mode = "ack"
        t.join(20)
        assert not t.is_alive()
        n = messages(peer)
        assert len(n) >= 10 and sorted(set(n)) == list(range(5))
        assert len(n) % 5 == 0, "only whole unacked chunks are sent again"
        assert retries.value > before
        out.close()
    finally:
        peer.stop()


def test_connection_dropped_mid_chunk_is_resent(peer, tmp_path):
    peer.drop_next(2)
    out = make_output(tmp_path, port=peer.port)
    out.send(make_batch(20))
    assert peer.dropped == 2
    assert messages(peer) == list(range(20)), "a chunk cut mid-way is stored nowhere and sent again whole"
    out.close()


def test_stored_but_unacked_chunk_is_the_only_duplicate(peer, tmp_path):
    out = make_output(tmp_path, port=peer.port, batch_size=5)
    peer.drop_after_store(1)
    out.send(make_batch(15))
    n = messages(peer)
    assert n == [0, 1, 2, 3, 4] * 2 + list(range(5, 15))


def test_restart_while_sending(peer, tmp_path):
    out = make_output(tmp_path, port=peer.port)
    out.send(make_batch(5))
    peer.stop()
    t = threading.Thread(target=out.send, args=(make_batch(5, start=5),))
    t.start()
    time.sleep(1.0)
    assert t.is_alive()
    peer.start()
    t.join(30)
    assert not t.is_alive()
    assert sorted(set(messages(peer))) == list(range(10))
    out.close()


def test_stopping_while_down_raises_stopping(tmp_path):
    peer = ForwardServer().start()
    port = peer.port
    peer.stop()
    stop = threading.Event()
    out = make_output(tmp_path, stop=stop, port=port)
    threading.Timer(0.5, stop.set).start()
    with pytest.raises(Stopping):
        out.send(make_batch(3))
    out.close()


def test_servers_weight_standby_and_rejoin(tmp_path):
    a, b, s = ForwardServer().start(), ForwardServer().start(), ForwardServer().start()
    try:
        out = make_output(tmp_path, batch_size=1, heartbeat_interval=0.2, servers=[
            {"port": a.port, "weight": 3}, {"port": b.port, "weight": 1}, {"port": s.port, "standby": True}])
        out.send(make_batch(200))
        assert len(s.records) == 0, "a standby gets nothing while the primaries are up"
        assert len(a.records) + len(b.records) == 200
        assert len(a.records) > len(b.records) > 10, (len(a.records), len(b.records))
        a.stop(), b.stop()
        out.send(make_batch(10, start=200))
        assert sorted(r[2]["n"] for r in s.records) == list(range(200, 210))
        a.start()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not any(r[2]["n"] >= 210 for r in a.records):
            out.send(make_batch(5, start=210))
        assert any(r[2]["n"] >= 210 for r in a.records), "a failed server is probed and used again"
        out.close()
    finally:
        for p in (a, b, s):
            p.stop()


def test_config_errors_name_the_key():
    text = "sources: [{name: a, type: file, paths: [x], parser: json}]\n" \
           "outputs:\n  - type: fluentd\n    host: a\n    servers: [{host: b}]\n"
    with pytest.raises(ConfigError) as e:
        parse_config(text, "shipper.yaml")
    assert "host and servers" in str(e.value) and "shipper.yaml:3" in str(e.value)
    with pytest.raises(ConfigError, match="ack_timout"):
        parse_config("sources: [{name: a, type: file, paths: [x], parser: json}]\n"
                     "outputs: [{type: fluentd, ack_timout: 3}]\n", "s.yaml")


@settings(max_examples=200, deadline=None)
@given(st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2100, 1, 1)), st.integers(0, 999),
       st.sampled_from([0, 3, 6, 9]))
def test_event_time_from_timestamp(dt, extra_ns, digits):
    dt = dt.replace(tzinfo=timezone.utc)
    ns_total = int((dt - datetime(1970, 1, 1, tzinfo=timezone.utc)) // timedelta(microseconds=1)) * 1000 + extra_ns
    sec, frac = divmod(ns_total, 10**9)
    text = datetime.fromtimestamp(sec, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    if digits:
        text += "." + f"{frac:09d}"[:digits]
    text += "Z"
    expected = sec * 10**9 + (int(f"{frac:09d}"[:digits].ljust(9, "0")) if digits else 0)
    assert event_time_ns(text, -1) == expected
    assert event_time_ns(text.replace("Z", "+00:00"), -1) == expected


def test_event_time_of_garbage_is_the_fallback():
    assert event_time_ns("yesterday-ish", 42) == 42
    assert event_time_ns(None, 42) == 42
