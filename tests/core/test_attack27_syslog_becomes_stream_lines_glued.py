"""Attack 27 (exam27b): the journal on syslog (stderr closed, `2>&-`), and the syslog daemon replaced by one that listens
on a Unix *stream* socket at the same path (rsyslog's `/dev/log`, a datagram socket, swapped for syslog-ng's
`unix-stream("/dev/log")`: a package switch, a container image's new base). The agent reconnects (session 26 connects
to either kind) and sends again the lines the old socket had not read (845d979), but it keeps a datagram's framing: one
line a send, no newline. On a stream the lines run together — `… instead"<30>shipper[…]: level=info … msg=started …
cfg.yaml<28>shipper[…]: level=warning …` — and a stream syslog daemon, which splits messages at newlines, takes
them as one message whose priority and identifier are the first line's. Found by hand 2 of 2 (the held lines and the
lines said after the switch alike). What should hold: each journal line sent on a stream ends with a newline,
whatever kind of socket the agent connected to first."""
from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

from tests.journal_sinks import SHIPPER, bound_syslog, folder_config, numbered, stderr_closed
from tests.support import stop_process, wait


def test_journal_lines_on_a_stream_syslog_that_replaced_a_datagram_one_end_in_newlines(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "a.log").write_text(numbered(0, 10))
    cfg = folder_config(tmp_path, logs)
    path = tmp_path / "syslog.sock"
    out = tmp_path / "out.jsonl"
    datagram = bound_syslog(path)
    with open(out, "wb") as out_file:
        agent = subprocess.Popen(stderr_closed([SHIPPER, "run", "-c", str(cfg)]), stdout=out_file,
                                 env={**os.environ, "SHIPPER_SYSLOG_SOCKET": str(path)})
    try:
        assert wait(lambda: out.read_bytes().count(b"\n") >= 10, 60), "the first lines were not shipped"
        datagram.close()  # rsyslog goes ...
        os.unlink(path)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as stream:
            stream.bind(str(path))  # ... syslog-ng comes, on a stream socket at the same path
            stream.listen(5)
            stream.settimeout(60)
            for i in range(3):
                os.mkfifo(logs / f"pipe{i}.log")  # three warnings: the agent connects again and says them
            conn = stream.accept()[0]
            conn.settimeout(3)
            data = b""
            deadline = time.monotonic() + 20
            while data.count(b"pipe") < 6 and time.monotonic() < deadline:  # each warning names its path twice
                try:
                    chunk = conn.recv(65536)
                except socket.timeout:
                    continue
                if not chunk:
                    break
                data += chunk
            conn.close()
    finally:
        stop_process(agent, 30)
    text = data.decode(errors="replace")
    assert text.count("pipe") >= 6, f"the warnings did not reach the stream socket: {text!r}"
    glued = [m for m in text.split("\n") if m.count("shipper[") > 1]
    assert not glued, f"journal lines ran together on the stream (no newline between them): {glued[0][:600]!r}"
