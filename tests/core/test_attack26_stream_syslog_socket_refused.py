"""Attack 26 (exam26d): stderr closed (`2>&-`) on a host whose syslog daemon listens on a Unix *stream* socket —
syslog-ng's `unix-stream("/dev/log")`, which older syslog-ng configurations and some distributions use. glibc's
syslog(3) and Python's SysLogHandler try a datagram socket first and, refused with EPROTOTYPE, a stream one.
docs/operations.md ("Standard error closed") sends the journal to "the system's syslog socket" and refuses to start
only "with no syslog socket there". Found by hand (2 of 2): the agent refused to start, exit 2, telling the kernel's
log `there is no syslog socket (…/syslog.sock: Protocol wrong type for socket)` — there is one, listening — and
nothing was shipped. The socket here is a real stream socket the test binds and reads (lines framed by a newline, as
syslog-ng reads a stream, or by the octet counting of RFC 6587); the kernel's log is a file bind-mounted over
/dev/kmsg in a mount namespace of the agent's own, as in tests/core/test_stderr_closed_journal_to_syslog.py. Fixed:
refused a datagram socket with EPROTOTYPE, shipper/journal_syslog.py connects a stream one, each line ending with a
newline."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
from pathlib import Path

from tests.journal_sinks import SHIPPER, numbered, own_kmsg

EVENTS = 20


def test_stderr_closed_the_journal_goes_to_a_stream_syslog_socket(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_text(numbered(0, EVENTS))
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(json.dumps({"state_dir": str(tmp_path / "state"),
                               "sources": [{"name": "app", "type": "file", "paths": [str(log)], "parser": "json"}],
                               "outputs": [{"type": "stdout"}]}))
    path = tmp_path / "syslog.sock"
    got: list[bytes] = []
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(str(path))
        server.listen(8)

        def serve() -> None:
            while True:
                try:
                    conn, _ = server.accept()
                except OSError:
                    return
                with conn:
                    while chunk := conn.recv(65536):
                        got.append(chunk)
        threading.Thread(target=serve, daemon=True).start()
        kmsg = tmp_path / "kmsg"
        run = subprocess.run(own_kmsg(kmsg, [SHIPPER, "run", "--once", "-c", str(cfg)], close_stderr=True), capture_output=True, timeout=120,
                             env={**os.environ, "SHIPPER_SYSLOG_SOCKET": str(path)})
    said = kmsg.read_text()
    assert run.returncode == 0, f"exit {run.returncode}; the kernel's log: {said}"
    assert run.stdout.count(b"\n") == EVENTS
    journal = b"".join(got).decode(errors="replace")
    assert "standard error is closed" in journal and "run --once: read" in journal, journal
