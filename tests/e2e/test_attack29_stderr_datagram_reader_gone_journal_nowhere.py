"""Attack 29 (exam29a), on 93eb39a: the journal on a Unix datagram socket (systemd's `StandardError=socket` from a
`ListenDatagram=` unit, a socat relay) whose reader goes away — the relay restarted or killed. docs/operations.md:
"when stderr's reader goes away while the agent runs … at the first line that meets the break the journal moves to
syslog, saying `the reader of standard error went away (EPIPE): the journal goes to syslog`", and with no syslog
socket the kernel's log says so. On a seqpacket socket (and a pipe, a stream socket) it does. On a datagram socket the
send fails with ECONNREFUSED (then ENOTCONN), and every later line goes nowhere: three FIFO warnings and the stop's
lines reach neither the syslog socket (SHIPPER_SYSLOG_SOCKET, bound and read) nor the kernel's log (a file over
/dev/kmsg); the agent ships on without a word. 2 of 2 by hand (one with the kernel's log looked at), 1 of 1 in the
test. What should hold: a datagram reader gone moves the journal to syslog as a pipe's or a socket's does."""
from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

from tests.journal_sinks import SHIPPER, bound_syslog, followed_log, numbered, received
from tests.support import stop_process, wait


def test_the_journal_moves_to_syslog_when_a_datagram_reader_goes_away(tmp_path: Path) -> None:
    cfg, log = followed_log(tmp_path, 50, shutdown_timeout=5)
    logs = log.parent
    syslog = bound_syslog(tmp_path / "syslog.sock")
    reader, journal = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    out = tmp_path / "out.jsonl"
    with open(out, "wb") as o:
        agent = subprocess.Popen([SHIPPER, "run", "-c", str(cfg)], stdout=o, stderr=journal.fileno(),
                                 env={**os.environ, "SHIPPER_SYSLOG_SOCKET": str(tmp_path / "syslog.sock")})
    journal.close()
    try:
        assert wait(lambda: out.read_bytes().count(b"\n") == 50, 60), "the first lines were not shipped"
        reader.settimeout(30)
        assert b"started" in reader.recv(65536)
        reader.close()  # the journal's reader goes away
        for i in range(3):
            os.mkfifo(logs / f"fifo{i}.log")  # each named once in the journal: a warning
        with open(log, "a") as f:
            f.write(numbered(50, 100))
        assert wait(lambda: out.read_bytes().count(b"\n") == 100, 60), "the agent stopped shipping"
        said: list[str] = []
        named = wait(lambda: said.extend(received(syslog)) or sum("fifo" in line for line in said) == 3, 20)
        stop_process(agent)
        said.extend(received(syslog))
        assert named, f"the FIFO warnings after the journal's reader went away reached syslog as: {said}"
    finally:
        stop_process(agent)
        syslog.close()
