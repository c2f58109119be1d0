"""Attack 28 (exam28): stdout into a FIFO (a named pipe a collector reads: syslog-ng's pipe(), a sidecar) whose reader
restarts. The reader takes 100 lines and stalls; the agent writes the next 50 into the pipe, where they wait unread
(not acknowledged: docs/operations.md "a batch is acknowledged only once its reader has taken it"); the collector
restarts: its old process closes the FIFO, its new one opens it 0.2 s later. The agent takes the close for its
reader going away and ends with 141, as documented, but its stop takes ~2.8 s (measured), and a FIFO's buffer lives
as long as any end is open: the new reader opens it meanwhile and reads the 50 lines. The agent says nothing (no
warning "when the reader had none of it"; what it left unread "is not lost (read again)"), and the next start writes
the 50 lines again: 50 repeated, unnamed. By hand 4 of 4 with the new reader 0.05, 0.2, 0.5 and 1.5 s after the
close (5 s after: the agent had gone, the buffer with it, no repeat). What should hold: lines the pipe still held
when the reader went away are either not written again, or named as a possible repeat when someone may still read
them (a FIFO), or the agent looks again before it exits whether they were taken.
Fixed in session 28 (stdout._reader_gone): the lines a FIFO's reader left unread in it are named as a possible repeat."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

from tests.journal_sinks import SHIPPER, numbered
from tests.stalled_reader import followed_log, unread, written_again
from tests.support import read_steady, stop_process


def _read_for(fd: int, seconds: float) -> bytes:
    got = b""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            chunk = b""
        got += chunk
        if not chunk:
            time.sleep(0.05)
    return got


def test_lines_a_restarted_fifo_reader_took_are_not_repeated_unnamed(tmp_path: Path) -> None:
    cfg, log = followed_log(tmp_path)
    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    old_reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    err = tmp_path / "first.err"
    with open(err, "wb") as e:
        agent = subprocess.Popen(["sh", "-c", 'exec "$0" run -c "$1" > "$2"', SHIPPER, str(cfg), str(fifo)], stderr=e)
    new_reader = -1
    try:
        got = b""
        end = time.monotonic() + 60
        while got.count(b"\n") < 100 and time.monotonic() < end:
            got += _read_for(old_reader, 0.2)
        assert got.count(b"\n") == 100, err.read_text()[-800:]
        with open(log, "a") as f:
            f.write(numbered(100, 150))
        assert read_steady(lambda: unread(old_reader), lambda n: n > 0, 30) > 0, "nothing written to the pipe"
        os.close(old_reader)  # the collector restarts
        time.sleep(0.2)
        new_reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        got += _read_for(new_reader, 5)
    finally:
        if new_reader >= 0:
            os.close(new_reader)
        if agent.poll() is None:
            agent.send_signal(signal.SIGTERM)
        stop_process(agent, 30)
    again = written_again(cfg, tmp_path / "again.jsonl")
    counts = Counter(json.loads(line)["generic"]["n"] for line in (got + again).splitlines() if line)
    assert set(counts) == set(range(150)), "lines missing"
    repeated = sum(n - 1 for n in counts.values())
    journal = err.read_text()
    named = [ln for ln in journal.splitlines() if "repeat" in ln]
    assert repeated == 0 or named, f"{repeated} lines written twice, named nowhere: {journal[-800:]}"
