"""One chunk the server may have stored is named once, whoever gets to it first: the output's close() (a stop or a
reload that gave up waiting for the send) or the sending thread's failure path (issue 23; repeat23 saw the race by
reading, session 21: no lock between them).

The failure path can take seconds between the failure and its naming: a first chunk on a fresh connection reset
before its ack may come from a TLS-only in_forward, so the output first asks the server which protocol it speaks
(FluentdOutput._wrong_protocol, up to 5 s for an answer). A close() in that window named the chunk ("fluentd
output closed while a chunk of 5 events waited for its ack … a possible repeat of 5 events"), and the failure path,
once the answer came, named it again ("… the server may have stored the chunk (a possible repeat of 5 events)"): one
copy, two names, and an auditor counting them counts 10 events where 5 may be repeated.

Real output and sockets, the strict peer: it stores the first chunk and resets the connection before its ack, then
reads nothing (frozen) until the test has closed the output, as OutputWorker.close does once its join timed out.
"""
from __future__ import annotations

import logging
import threading

from shipper.plugin import Stopping
from tests.outputs.test_output_fluentd import make_batch, make_output
from tests.peers.forward_server import ForwardServer
from tests.support import wait_until


class _StoresThenFreezes(ForwardServer):
    """Stores the first chunk of records, then reads nothing more until `frozen` is cleared (its connection is reset
    before the ack by drop_after_store)."""

    def _store(self, tag, entries, option):
        super()._store(tag, entries, option)
        if entries:
            self.frozen.set()


def test_a_copy_named_by_close_is_not_named_again_by_the_failure_path(tmp_path, caplog):
    peer = _StoresThenFreezes().start()
    peer.drop_after_store(1)
    out = make_output(tmp_path, port=peer.port, name="fk_close_once", timeout=30)
    ended: list[BaseException | None] = []

    def send() -> None:
        try:
            out.send(make_batch(5))
            ended.append(None)
        except BaseException as e:  # Stopping, once the close came
            ended.append(e)

    sender = threading.Thread(target=send, daemon=True)
    try:
        with caplog.at_level(logging.WARNING, logger="shipper.output.fluentd"):
            sender.start()
            # The chunk was stored and reset; the output's question (which protocol?) is on a second connection,
            # unanswered while the peer is frozen.
            wait_until(lambda: len(peer.records) == 5 and peer.connections >= 2, 30, "the chunk stored, then the question")
            out.ctx.stop.set()
            out.close()
            assert sender.is_alive(), "the premise: close() came while the failure path was still asking"
            peer.frozen.clear()
            sender.join(30)
        assert not sender.is_alive() and ended and isinstance(ended[0], Stopping), ended
    finally:
        peer.frozen.clear()
        peer.stop()
    said = [r.getMessage() for r in caplog.records]
    named = [m for m in said if "possible repeat of 5 events" in m]
    assert len(named) == 1, f"one copy the server may hold, named {len(named)} times: {said}"


class _AcksWhenReleased(ForwardServer):
    """Stores each chunk of records, and acks it only once `release` is set."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.release = threading.Event()

    def _store(self, tag, entries, option):
        super()._store(tag, entries, option)
        if entries:
            self.release.wait(60)


def test_an_ack_read_after_close_named_the_chunk_is_no_delivery(tmp_path, caplog):
    """The other side of the same race: close() names the chunk waiting for its ack, and the ack arrives before the
    close cuts the connection. Counted as delivered, the batch the close let go would be read again and sent, a
    repeat named twice (here, and as a late acknowledgement by the output worker); so the send ends as not delivered
    (Stopping), and the chunk goes again, as close() said."""
    peer = _AcksWhenReleased().start()
    out = make_output(tmp_path, port=peer.port, name="fk_ack_after_close")
    ended: list[BaseException | None] = []

    def send() -> None:
        try:
            out.send(make_batch(4))
            ended.append(None)
        except BaseException as e:
            ended.append(e)

    sender = threading.Thread(target=send, daemon=True)
    try:
        with caplog.at_level(logging.WARNING, logger="shipper.output.fluentd"):
            sender.start()
            wait_until(lambda: len(peer.records) == 4, 30, "the chunk stored, its ack held")
            out.ctx.stop.set()
            # close() as far as its naming (what it does before cutting the connections), then the ack comes.
            server = out.pool.servers[0]
            assert server.conn.take_unacked() == 4
            peer.release.set()
            sender.join(30)
        assert not sender.is_alive() and ended and isinstance(ended[0], Stopping), ended
        assert "acknowledged after the output's close had named it" in (out.trouble or ""), out.trouble
        assert server.conn.take_unacked() == 0, "named once: close() finds nothing more to name"
        out.close()
    finally:
        peer.release.set()
        peer.stop()
    assert [r for r in caplog.records if "possible repeat" in r.getMessage()] == []
