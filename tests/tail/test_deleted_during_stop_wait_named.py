"""A file deleted while the stop waits for an output that is down: the source's run() has returned and its let-go
has named what it let go (nothing: no file was deleted yet); the stop then spends shutdown_timeout waiting for the
batches, the tailer's descriptors still open. A rotation past the backups meanwhile (the writer wrote on, then the
file was renamed and deleted) left the file deleted and open when the stop saved what it read and did not deliver:
it was saved as if the let-go had named it, read up to where it was, and the lines written after the last read went
without a word (wip-catchup13's 3dee1e4, exam13's catch-up scenario stopped with the output down: app.log.1 and
app.log.2 saved gone at size 0, 100,008 bytes each). Saved with its size, the next start names all of it."""
from __future__ import annotations

import json
import os
import re
import signal
import time
from pathlib import Path

import pytest

from tests.e2e.fluentd_agent import line, metric, start_agent, stored, write_lines
from tests.peers.forward_server import ForwardServer
from tests.support import wait_until
from tests.tail.attack_agent import free_port

pytestmark = pytest.mark.slow

# The stop's wait for the batches the output does not take: the deletion lands in it, after the source's run() has
# returned (at once: its queue is not full) and before the stop saves what it read.
SHUTDOWN_TIMEOUT = 12


def _config(tmp_path: Path, log: Path, port: int, http_port: int) -> Path:
    cfg = {"state_dir": str(tmp_path / "state"), "shutdown_timeout": SHUTDOWN_TIMEOUT,
           "http": {"listen": f"127.0.0.1:{http_port}"},
           "sources": [{"name": "app", "type": "file", "paths": [str(log)], "parser": "json", "batch_size": 100,
                        "parse_workers": 0}],
           "outputs": [{"type": "fluentd", "name": "fwd", "host": "127.0.0.1", "port": port, "backoff_max": 1.0,
                        "flush_interval": 0.2}]}
    path = tmp_path / "cfg.yaml"
    path.write_text(json.dumps(cfg))  # JSON is YAML
    return path


def _named(journal: Path) -> int:
    return sum(int(b) for b in re.findall(r"bytes_lost=(\d+)", journal.read_text()))


def test_a_file_deleted_during_the_stops_wait_is_named_whole(tmp_path):
    log = tmp_path / "a.log"
    peer = ForwardServer(port=free_port()).start()
    http_port = free_port()
    cfg = _config(tmp_path, log, peer.port, http_port)
    journal = tmp_path / "journal.log"
    write_lines(log, "a", 0, 300)
    agent = start_agent(cfg, journal)
    try:
        wait_until(lambda: len(stored(peer)) >= 300, 120, "the first 300 lines delivered")
        peer.stop()
        write_lines(log, "b", 0, 300)  # read, not delivered
        wait_until(lambda: metric(http_port, 'shipper_in_flight_batches{output="fwd"} 3.0'), 120, "b's batches")
        agent.send_signal(signal.SIGTERM)
        # The source's run() returns and lets go (nothing deleted yet, nothing named); the stop waits for the output.
        time.sleep(SHUTDOWN_TIMEOUT / 4)
        assert agent.poll() is None, journal.read_text()
        write_lines(log, "c", 0, 200)  # written after the last read
        os.rename(log, f"{log}.1")
        os.unlink(f"{log}.1")  # a rotation past the backups, during the stop's wait
        assert agent.wait(60) == 1, journal.read_text()  # batches undelivered
        stop_journal = journal.read_text()
        peer.start()
        agent = start_agent(cfg, journal)
        write_lines(log, "z", 0, 1)  # the last line: the server has all it will get once it has this one
        wait_until(lambda: ("z", 0) in stored(peer), 120, "the last line")
        lost = sum(len(line(src, i)) for src, n in (("b", 300), ("c", 200)) for i in range(n))
        end = time.monotonic() + 30  # (the next start names a file gone after two scans a second apart)
        while _named(journal) < lost and time.monotonic() < end:
            time.sleep(0.1)
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(60) == 0, journal.read_text()
    finally:
        if agent.poll() is None:
            agent.kill()
        peer.stop()
    assert "data lost" not in stop_journal, "the deletion landed before the source's let-go: not the case tested"
    counts = stored(peer)
    assert sorted(k for k, v in counts.items() if v > 1 or k[0] in ("b", "c")) == [], "repeated, or not deleted"
    assert _named(journal) == lost, f"{lost} bytes lost, {_named(journal)} named\n{journal.read_text()}"
