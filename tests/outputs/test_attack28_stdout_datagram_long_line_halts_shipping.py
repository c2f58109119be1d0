"""Attack 28 (exam28): f98c63b's datagram stdout meets one long audit line. stdout is a Unix datagram (or seqpacket)
socket (systemd's `StandardOutput=socket` on a datagram unit, a collector's socketpair), the kernel's default send
buffer (net.core.wmem_default, ~208 KiB) bounds a message, and the log holds one event of 300 KB — within the file
source's `max_line_bytes` (1 MiB), so it is read whole. Every run ends at it, exit 1: `a line of 300306 bytes is
longer than one of its messages can be (EMSGSIZE); no retry can send it … give stdout a pipe, a file or a stream
socket, or a larger send buffer`. The next start, and every one after (systemd's Restart=), reads the same batch
and ends at the same line: the 10 lines before it are sent again each time, and the lines after it are never
shipped — one input line halts the agent for good ("bad input never crashes the agent"). The agent owns that
socket: SO_SNDBUF raised to net.core.wmem_max (4 MiB here; SO_SNDBUFFORCE as root) carries the line. 2 of 2 by
hand (datagram and seqpacket, two runs each). What should hold: a line the source read whole reaches the socket
(the send buffer raised for it), or is set aside named (cut, dead-lettered) so that the lines after it go on.
Fixed in session 28 (stdout._send_buffer_raised): the send buffer is raised for the line."""
from __future__ import annotations

import json
import socket
import subprocess
import threading
from pathlib import Path

import pytest

from tests.journal_sinks import SHIPPER


def _run_once(cfg: Path, kind: int) -> tuple[int, list[int], str]:
    """`shipper run --once` with stdout a socket of `kind` whose reader takes every message: exit code, the event
    numbers received, the journal."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, kind)
    ours.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    got: list[bytes] = []

    def read() -> None:
        while True:
            message = ours.recv(16 << 20)
            if not message:
                return
            got.append(message)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        done = subprocess.run([SHIPPER, "run", "--once", "-c", str(cfg)], stdout=theirs, stderr=subprocess.PIPE,
                              timeout=120)
    finally:
        theirs.close()
    reader.join(10)
    ours.close()
    numbers = [json.loads(line)["generic"]["n"] for m in got for line in m.splitlines() if line.strip()]
    return done.returncode, numbers, done.stderr.decode()


@pytest.mark.parametrize("kind", [socket.SOCK_DGRAM, socket.SOCK_SEQPACKET], ids=["dgram", "seqpacket"])
def test_a_long_line_into_a_datagram_stdout_does_not_halt_shipping(tmp_path: Path, kind: int) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    lines = [json.dumps({"n": i}) for i in range(10)] + [json.dumps({"n": 10, "big": "x" * 300_000})]
    lines += [json.dumps({"n": i}) for i in range(11, 20)]
    (logs / "a.log").write_text("\n".join(lines) + "\n")
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(json.dumps({"state_dir": str(tmp_path / "state"),
                               "sources": [{"name": "app", "type": "file", "paths": [str(logs / "*.log")],
                                            "parser": "json"}],
                               "outputs": [{"type": "stdout"}]}))
    received: list[int] = []
    journals = []
    for _ in range(2):  # a start, and the restart after it
        code, numbers, journal = _run_once(cfg, kind)
        received += numbers
        journals.append(journal)
        if code == 0:
            break
    assert set(range(11, 20)) <= set(received), (
        f"the lines after the long one were never shipped (received {received}): "
        + "\n".join(ln[:400] for j in journals for ln in j.splitlines() if "level=info" not in ln))
