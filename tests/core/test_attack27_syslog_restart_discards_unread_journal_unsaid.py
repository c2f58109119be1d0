"""Attack 27 (exam27b): the journal on syslog (stderr closed, `2>&-`; docs/operations.md "Standard error closed"), a
syslog daemon that stops reading for a while (rsyslog held by a remote action that is down, syslog-ng's flow control)
and is then restarted without socket activation (busybox syslogd, rsyslog or syslog-ng in a container: the daemon
closes its socket and binds the path again). The lines the agent handed to the kernel that the daemon had not read
yet go with its socket: the kernel frees a datagram socket's queue and a stream connection's unread bytes at the
close. Session 26 holds the lines said while no socket is there (test_attack26_syslog_restart_drops_journal_unsaid.py)
and counts those a backlog drops, but these were sent, as far as `send` tells: found by hand 3 of 3 (5 warnings on a
datagram socket, 5 and 8 on a stream one, each a FIFO named once): none reached the daemon bound again, and nothing
said that journal lines were lost — the next warning arrived as if nothing had been missed. Such a line is what the
operator has of a loss (`data lost: …`). The kernel tells what a stream socket's peer has not read (SIOCOUTQ: the
agent asks it for its stdout socket), and a datagram socket's unread queue is charged to its sender until read.
What should hold: lines syslog never read are sent again after the restart, or their number is said."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.journal_sinks import followed_log
from tests.support import stop_process, wait

SHIPPER = str(Path(sys.executable).with_name("shipper"))
UNREAD = 5  # warnings sent while the daemon does not read: fewer than a datagram socket queues (10)


def _listening(path: Path, kind: int) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, kind)
    sock.bind(str(path))
    if kind == socket.SOCK_STREAM:
        sock.listen(5)
    return sock


def _read_all(sock: socket.socket, seconds: float) -> str:
    """What sock receives until it is quiet for `seconds` (a stream's lines, or datagrams joined by newlines)."""
    sock.settimeout(seconds)
    got = []
    while True:
        try:
            chunk = sock.recv(65536)
        except (socket.timeout, BlockingIOError):
            break
        if not chunk:
            break
        got.append(chunk.decode(errors="replace"))
    return ("" if sock.type == socket.SOCK_STREAM else "\n").join(got)


@pytest.mark.parametrize("kind", ["datagram", "stream"])
def test_journal_lines_syslog_had_not_read_at_its_restart_are_not_lost_unsaid(tmp_path: Path, kind: str) -> None:
    sock_kind = socket.SOCK_DGRAM if kind == "datagram" else socket.SOCK_STREAM
    cfg, log = followed_log(tmp_path, 10)
    logs = log.parent
    path = tmp_path / "syslog.sock"
    out = tmp_path / "out.jsonl"
    first = _listening(path, sock_kind)
    with open(out, "wb") as out_file:
        agent = subprocess.Popen(["sh", "-c", 'exec "$@" 2>&-', "sh", SHIPPER, "run", "-c", str(cfg)],
                                 stdout=out_file, env={**os.environ, "SHIPPER_SYSLOG_SOCKET": str(path)})
    try:
        first.settimeout(60)
        conn = first.accept()[0] if kind == "stream" else first
        assert wait(lambda: out.read_bytes().count(b"\n") >= 10, 60), "the first lines were not shipped"
        before = _read_all(conn, 1)
        for i in range(UNREAD):
            os.mkfifo(logs / f"during{i}.log")  # each named once; the daemon does not read now
        time.sleep(3)
        conn.close()  # the daemon restarts: its socket closes with those lines unread, and is bound again
        first.close()
        os.unlink(path)
        time.sleep(1)
        second = _listening(path, sock_kind)
        second.settimeout(60)
        os.mkfifo(logs / "after.log")  # named after the restart: the agent writes (and reconnects)
        conn = second.accept()[0] if kind == "stream" else second
        after = _read_all(conn, 4)
        conn.close()
        second.close()
    finally:
        stop_process(agent, 30)
    assert "msg=started" in before, before
    assert "after.log" in after, f"no line reached the socket bound again: {after}"
    kept = all(f"during{i}.log" in after for i in range(UNREAD))
    said = [m for m in after.splitlines() if "is a FIFO or pipe" not in m]  # (the test's paths say "journal")
    counted = any("journal" in m and ("lost" in m or "dropped" in m or "did not read" in m) for m in said)
    assert kept or counted, f"the {UNREAD} lines syslog had not read at its restart went unsaid; after it: {after}"
    # Fixed (shipper/journal_syslog.py): they are sent again to the socket bound again, after a line saying why.
    assert kept and f"restarted before it had read the last {UNREAD} journal lines" in after, after
