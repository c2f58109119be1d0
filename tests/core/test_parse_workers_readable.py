"""The collector's wait for its workers' results (shipper/parse_workers.py, _Readable): one poll object kept while the
workers' pipes stay the same (session 30; multiprocessing.connection.wait made a selector at every call). Real pipes."""
from __future__ import annotations

import multiprocessing
from types import SimpleNamespace

from shipper.parse_workers import _Readable


def _worker():
    ours, theirs = multiprocessing.Pipe(duplex=True)
    return SimpleNamespace(conn=ours), theirs


def test_a_worker_is_ready_once_it_wrote_or_ended_and_a_new_one_on_a_reused_descriptor_is_seen():
    readable = _Readable()
    (a, a_end), (b, b_end) = _worker(), _worker()
    assert readable.among([a, b], 0.05) == []  # nothing written: the wait times out
    b_end.send_bytes(b"result")
    assert readable.among([a, b], 5) == [b]
    a_end.close()  # a worker gone: its end of the pipe reads as readable (EOF), as wait() said
    assert readable.among([a, b], 5) == [a, b]
    b.conn.recv_bytes()
    # b replaced: its pipe closed, a new one made (the kernel gives the lowest free descriptors: often b's again)
    b.conn.close()
    b_end.close()
    c, c_end = _worker()
    assert readable.among([a, c], 5) == [a]
    c_end.send_bytes(b"result")
    assert readable.among([a, c], 5) == [a, c]
    a.conn.close()
    assert readable.among([c], 5) == [c]  # the closed pipe no longer asked about
    c.conn.close()
    c_end.close()
