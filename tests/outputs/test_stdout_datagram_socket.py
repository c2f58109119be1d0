"""stdout into a Unix datagram socket (a `socat UNIX-RECVFROM` reader, StandardOutput= a datagram socket): a batch
written whole is one message, and a batch larger than a message can be was refused (EMSGSIZE) and retried for ever by
the daemon, nothing shipped (`run --once`: given up after its attempts, exit 1). Now a datagram socket gets whole lines
a few at a time, each write one message; for a single line longer than a message can be, the socket's send buffer is
raised (a line it still cannot take is named once, and the run ends). (exam27b's note, exam28, issue 13.)"""
from __future__ import annotations

import socket
import subprocess
import threading

import orjson
import pytest

from shipper_plugins.outputs.stdout import _send_buffer_raised
from tests.outputs.test_stdout_faults import SHIPPER, line, setup

pytestmark = pytest.mark.slow


def _receive(sock: socket.socket, into: list[bytes], done: threading.Event) -> None:
    sock.settimeout(0.2)
    while True:
        try:
            into.append(sock.recv(1 << 20))
        except socket.timeout:
            if done.is_set():
                return


def _run_once_into_datagrams(cfg, sndbuf: int | None = None) -> tuple[subprocess.CompletedProcess, bytes]:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    if sndbuf is not None:
        theirs.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
    got: list[bytes] = []
    done = threading.Event()
    reader = threading.Thread(target=_receive, args=(ours, got, done), daemon=True)
    reader.start()
    try:
        r = subprocess.run(SHIPPER + ["run", "--once", "-c", str(cfg)], stdout=theirs.fileno(), stderr=subprocess.PIPE,
                           timeout=180)
    finally:
        theirs.close()
        done.set()
        reader.join(30)
        ours.close()
    for message in got:
        assert message.endswith(b"\n"), message[-200:]  # whole lines in each message
    return r, b"".join(got)


def test_batches_larger_than_a_datagram_are_sent_as_whole_lines(tmp_path) -> None:
    cfg = setup(tmp_path, 3_000)  # batches of 500 lines of ~1.4 KB: ~700 KB, more than a datagram can be
    r, out = _run_once_into_datagrams(cfg)
    err = r.stderr.decode()
    assert r.returncode == 0, err[-3000:]
    assert [int(orjson.loads(ln)["user"]["name"][4:]) for ln in out.splitlines()] == list(range(3_000))


def test_a_line_longer_than_a_datagram_goes_whole_the_send_buffer_raised_for_it(tmp_path) -> None:
    # (exam28: at the default buffer, one long line within max_line_bytes ended every run at it, for good)
    cfg = setup(tmp_path, 10)
    log = tmp_path / "useraction.log"
    long = orjson.dumps({"timestamp": "2026-01-02 03:04:05", "action-type": "FILESYSTEM", "action": "EDIT",
                         "performing-user": "user10", "file-path": "/f/" + "y" * 40_000})
    with open(log, "ab") as w:
        w.write(long + b"\n" + b"".join(line(i) + b"\n" for i in range(11, 15)))
    r, out = _run_once_into_datagrams(cfg, sndbuf=8192)  # (messages of some 16 KB at most, until raised)
    err = r.stderr.decode()
    assert r.returncode == 0, err[-3000:]
    assert [int(orjson.loads(ln)["user"]["name"][4:]) for ln in out.splitlines()] == list(range(15))
    assert "Traceback" not in err and "level=warning" not in err, err


def test_a_send_buffer_large_enough_is_not_raised() -> None:
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    with a, b:
        size = a.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)
        assert not _send_buffer_raised(a, 1000)  # (it fits: EMSGSIZE then is no matter of the buffer: named, the run ends)
        assert _send_buffer_raised(a, 2 * size) and a.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF) > size
