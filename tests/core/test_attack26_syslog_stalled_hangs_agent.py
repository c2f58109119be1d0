"""Attack 26 (exam26d): the journal sent to syslog (stderr closed, `2>&-`; docs/operations.md "Standard error closed")
and a syslog daemon that stops reading its socket (rsyslog whose queue is blocked by a remote action that is down,
a journald that is stuck). A Unix datagram socket queues few datagrams (`net.unix.max_dgram_qlen`, 10 by default):
once that many journal lines wait unread, each further line blocks the thread that logs it. Found by hand (2 of 2: 12
and 1,500 FIFOs matched, each named once, beside the start's two lines): the file source blocked in its warning, the
lines appended next were never shipped, `/health` still answered `ok`, and SIGTERM never ended the agent (its
`stopping` line blocked too; killed after 40 s). A program that runs with stderr on a pipe has 64 KiB of slack there;
on syslog it has ten lines. What should hold: the journal's socket never stops the agent (lines it cannot send are
dropped and counted, or queued within a bound, and said when the socket takes them again). Fixed in
shipper/journal_syslog.py: a non-blocking socket and a bounded backlog."""
from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from tests.journal_sinks import SHIPPER, folder_config, numbered, stderr_closed
from tests.support import free_port, stop_process, wait

FIFOS = 40  # 40 warnings: well past the socket's queue whatever net.unix.max_dgram_qlen is here (10 by default)



def test_a_stalled_syslog_does_not_stop_shipping_or_the_stop(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    log = logs / "a.log"
    log.write_text(numbered(0, 10))
    port = free_port()
    cfg = folder_config(tmp_path, logs, shutdown_timeout=10, http={"listen": f"127.0.0.1:{port}"})
    out = tmp_path / "out.jsonl"
    path = tmp_path / "syslog.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as syslog, open(out, "wb") as out_file:
        syslog.bind(str(path))  # bound, never read: a stalled syslog daemon
        agent = subprocess.Popen(stderr_closed([SHIPPER, "run", "-c", str(cfg)]),
                                 stdout=out_file, env={**os.environ, "SHIPPER_SYSLOG_SOCKET": str(path)})
        try:
            assert wait(lambda: out.read_bytes().count(b"\n") >= 10, 60), "the first lines were not shipped"
            for i in range(FIFOS):
                os.mkfifo(logs / f"pipe{i}.log")  # each named once in the journal: 40 lines syslog does not read
            time.sleep(3)
            with open(log, "a") as f:
                f.write(numbered(10, 20))
            shipped = wait(lambda: out.read_bytes().count(b"\n") >= 20, 30)
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=10) as r:
                health = r.read().decode()
            started = time.monotonic()
            code = stop_process(agent, timeout=30)
            took = time.monotonic() - started
        finally:
            if agent.poll() is None:
                agent.kill()
                agent.wait()
    assert shipped, f"the lines appended after the journal's socket filled were not shipped; /health: {health}"
    assert code is not None and took < 15 + 5, f"SIGTERM did not end the agent (exit {code}, {took:.0f} s)"


@pytest.mark.parametrize("kind", ["datagram", "stream"])
def test_lines_syslog_does_not_take_are_held_in_order_then_dropped_and_counted(tmp_path: Path, kind: str) -> None:
    from shipper.journal_syslog import BACKLOG_LINES, SyslogStream

    path = tmp_path / "syslog.sock"
    # well past the backlog and the socket's queue: ten datagrams, or a stream's buffers (~200 KiB, ~5,000 lines)
    lines = BACKLOG_LINES + (300 if kind == "datagram" else 20_000)
    stream_kind = socket.SOCK_DGRAM if kind == "datagram" else socket.SOCK_STREAM
    with socket.socket(socket.AF_UNIX, stream_kind) as syslog:
        syslog.bind(str(path))
        if kind == "stream":
            syslog.listen(1)
        stream = SyslogStream(str(path))
        conn = syslog if kind == "datagram" else syslog.accept()[0]
        started = time.monotonic()
        for i in range(lines):
            stream.write(f"<4>line {i}\n")
        assert time.monotonic() - started < 10, "writing to a syslog that does not read held the writer"
        conn.settimeout(5)
        got: list[str] = []
        rest = b""
        while not got or not got[-1].endswith(f": line {lines - 1}"):
            try:
                chunk = conn.recv(65536)
            except socket.timeout:
                break
            if kind == "datagram":
                got.append(chunk.decode())
            else:
                *whole, rest = (rest + chunk).split(b"\n")
                got += [w.decode() for w in whole]
        conn.close()
    # the oldest lines, then the count of those dropped after them, then the newest (exam29a: the newest say how
    # things stand — a loss warned after a flood of other lines was dropped when the newest were)
    notes = [i for i, g in enumerate(got) if "were dropped" in g]
    assert len(notes) == 1, got[-3:]
    note = got[notes[0]]
    before = [int(g.rsplit(" ", 1)[1]) for g in got[:notes[0]]]
    after = [int(g.rsplit(" ", 1)[1]) for g in got[notes[0] + 1:]]
    assert before == list(range(len(before))), "the journal's oldest lines came out of order, cut or with a gap"
    assert after == list(range(lines - len(after), lines)), "the newest lines came out of order, cut or with a gap"
    assert len(before) + len(after) >= BACKLOG_LINES, f"only {len(before) + len(after)} lines were held"
    dropped = lines - len(before) - len(after)
    assert note.startswith("<27>shipper[") and f"{dropped} lines of it were dropped here" in note, note
    assert f"({dropped} warnings or errors among them" in note, note  # (every line written was a <4> warning)
