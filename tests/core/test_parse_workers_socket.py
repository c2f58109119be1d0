"""A parse worker's socket pair holds a whole result: the worker writes it and goes on to its next batch while the
collector is busy elsewhere. With Linux's default send buffer (~208 KiB) a result (0.8-3 MB at 1,000 records) went
through in pieces, the worker waiting in write() for each (bench/README.md, session 27)."""
from __future__ import annotations

import array
import fcntl
import multiprocessing
import os
import termios
from multiprocessing.reduction import ForkingPickler

import orjson

from shipper.events import EventBuilder, EventSettings
from shipper.parse_workers import _Frames, _read_frame, _result_frames, _Worker, end_helpers, serialise
from shipper.parser import ParserOptions, RawBatch
from shipper_plugins.parsers.datameer import DatameerParser
from tests.support import wait

DEFAULT_SEND_BUFFER = 212_992  # net.core.wmem_default on Linux
META = {"log": {"file": {"path": "/var/log/datameer/useraction.log"}}}


def _records(n: int) -> list[bytes]:
    return [orjson.dumps({"timestamp": "2023-11-14 22:13:20", "action-type": "FILESYSTEM", "action": "CREATE",
                          "performing-user": f"alice.{i:04d}", "roles": ["ADMIN"], "ip-address": f"10.0.{i // 256}.{i % 256}",
                          "file-path": f"/Analytics/Sales/Q1-{i}.wbk"}) for i in range(n)]


def _readable(conn) -> int:
    got = array.array("i", [0])
    fcntl.ioctl(conn.fileno(), termios.FIONREAD, got)
    return got[0]


def _reading_half(ours) -> _Worker:
    """A worker's reading half only: no process behind the socket `ours`."""
    worker = _Worker.__new__(_Worker)
    worker.conn, worker._in = ours, _Frames()
    return worker


def _read_in_pieces(worker: _Worker, theirs, stream: bytes, cuts: list[int], jitter: int = 1) -> list:
    """`stream` written into the worker's socket in pieces of these sizes (in turn, plus the offset modulo `jitter`),
    what the collector reads of it after each piece."""
    got: list = []
    at, n = 0, 0
    while at < len(stream):
        piece = stream[at:at + cuts[n % len(cuts)] + at % jitter]
        n += 1
        os.write(theirs.fileno(), piece)
        at += len(piece)
        while _readable(worker.conn):
            got += worker.results()
    return got


def test_a_result_larger_than_the_default_send_buffer_is_written_whole_while_nothing_reads_it():
    records = _records(500)
    builder = EventBuilder(EventSettings("d"), DatameerParser(ParserOptions()), "host")
    # What the worker sends (multiprocessing's framing, a 4-byte size before each): the pickle of (batch, result,
    # error) without the result's lines, then the lines
    lines, *rest = serialise(builder, RawBatch(records, (), {}, 0, META, None), False)
    size = 4 + len(ForkingPickler.dumps((0, (None, *rest), None))) + 4 + len(lines)
    # more than a default buffer holds, less than the least the kernel grants (twice the default wmem_max)
    assert DEFAULT_SEND_BUFFER + 20_000 < size < 2 * DEFAULT_SEND_BUFFER - 20_000
    end_helpers()  # a forkserver of an earlier test may have another preload
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["shipper.parse_workers", "orjson", "shipper_plugins.parsers.datameer"])
    worker = _Worker(ctx, (EventSettings("d"), DatameerParser, ParserOptions(), "host"), "socket-test")
    try:
        worker.send((0, records, None, META, False, None))
        # nothing reads it here: the whole message waits in the socket, the worker is free for its next batch
        assert wait(lambda: _readable(worker.conn) >= size, 30, 0.05), (
            f"{_readable(worker.conn)} of the result's {size} bytes written: the worker waits in write() for the rest")
        assert _readable(worker.conn) == size
        (batch, parsed, error), = worker.results()
        assert (batch, error) == (0, None) and parsed[1] == 500
    finally:
        worker.close(5.0)
        end_helpers()


def test_results_are_read_whole_whatever_pieces_they_come_in():
    """The collector reads what the socket holds and unpickles each complete result where it lies: results come
    whole, several in one read, or in pieces cut anywhere (in the size, in the pickle); each is returned once, in
    order, once its last byte came, and a read takes only what the socket holds."""
    ours, theirs = multiprocessing.Pipe(duplex=True)
    worker = _reading_half(ours)
    results = [(i, (b"x" * (i * 37_003 % 300_000), i, [None] * i, None, 0, 0), None) for i in range(12)]
    stream = b"".join(len(p).to_bytes(4, "big") + p for p in map(bytes, map(ForkingPickler.dumps, results)))
    # (pieces less than a default socket buffer holds)
    got = _read_in_pieces(worker, theirs, stream, [3, 1, 2, 100, 5, 40_000, 1, 150_000, 7, 120_000, 4, 65_536, 9,
                                                   100_000], jitter=13)
    assert got == results
    assert not worker._in.begun()
    ours.close()
    theirs.close()


def test_a_result_in_pieces_is_copied_once_and_one_larger_than_the_buffer_read_whole():
    """The collector reads each piece of a result where the last one ended, in a buffer kept for the worker: the
    result is held once, not a second time in a buffer the pieces are appended to (session 29). One larger than that
    buffer makes room for itself, and the buffer goes back to its size once it is read."""
    import tracemalloc

    ours, theirs = multiprocessing.Pipe(duplex=True)
    worker = _reading_half(ours)
    kept = len(worker._in._buf)
    for size in (700_000, 3 * kept):
        result = (0, (os.urandom(size), 1, [None], None, 0, 0), None)
        pickled = bytes(ForkingPickler.dumps(result))
        stream = len(pickled).to_bytes(4, "big") + pickled
        tracemalloc.start()
        try:
            got = _read_in_pieces(worker, theirs, stream, [70_000])
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert got == [result]
        assert not worker._in.begun()
        if size < kept:  # the result's bytes once (unpickled), its pieces read into the kept buffer
            assert peak < size + 100_000, f"{peak} bytes allocated to read a result of {size}"
        assert len(worker._in._buf) == kept
    ours.close()
    theirs.close()


def test_a_results_lines_sent_as_a_frame_of_their_own_are_put_back_in_it():
    """A worker sends a result's lines as the chunks serialise made, in a frame after the rest of the result (neither
    joined nor pickled in the worker: session 29); the collector returns the result whole, its lines one bytes, also
    when the frames come in pieces cut anywhere, a result with no lines (a failed batch) or no events among them."""
    ours, theirs = multiprocessing.Pipe(duplex=True)
    worker = _reading_half(ours)
    sent = []
    stream = b""
    for i in range(9):
        chunks = [bytes([65 + i]) * (i * 9_001 % 70_000 + j) for j in range(i % 4 + 1)] if i != 5 else []
        rest = (len(chunks), [None] * len(chunks), None, 0, i)
        if i == 3:  # a batch the worker failed on
            out, frames = (i, None, "ValueError: x"), _result_frames((i, None, "ValueError: x"))
        else:
            out, frames = (i, (b"".join(chunks), *rest), None), _result_frames((i, (None, *rest), None), chunks)
        sent.append(out)
        stream += b"".join(frames)
    got = _read_in_pieces(worker, theirs, stream, [3, 1, 5, 20_000, 7, 4, 90_000, 2, 50_001])
    assert got == sent
    assert all(type(parsed[0]) is bytes for _, parsed, _ in got if parsed is not None)
    assert not worker._in.begun()
    ours.close()
    theirs.close()


def test_a_worker_reads_the_agents_message_whole_in_whatever_pieces_it_comes_and_ends_at_its_pipes_end():
    """A worker reads each message of the agent (Connection.send's framing) itself, not through a BytesIO (session 29):
    whole however the socket gives it, and the agent's end closed mid-message is an EOFError (the worker ends)."""
    import threading

    ours, theirs = multiprocessing.Pipe(duplex=True)
    batch = (7, _records(300), None, META, False)
    ours.send_bytes(bytes(ForkingPickler.dumps(None)))  # (the agent's "end")
    assert ForkingPickler.loads(_read_frame(theirs.fileno())) is None
    pickled = bytes(ForkingPickler.dumps(batch))
    stream = len(pickled).to_bytes(4, "big") + pickled

    def write_in_pieces():
        for at in range(0, len(stream), 9_999):
            os.write(ours.fileno(), stream[at:at + 9_999])

    writer = threading.Thread(target=write_in_pieces)
    writer.start()
    assert ForkingPickler.loads(_read_frame(theirs.fileno())) == batch
    writer.join()
    os.write(ours.fileno(), stream[:50_000])
    ours.close()
    try:
        _read_frame(theirs.fileno())
    except EOFError:
        pass
    else:
        raise AssertionError("a message cut by the agent's end was taken for whole")
    theirs.close()
