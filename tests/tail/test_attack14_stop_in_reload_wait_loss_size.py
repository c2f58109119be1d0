"""Examiner session 16 (attacklong14): a SIGTERM lands while a reload's restart waits for a Fluentd that is down;
during that wait the log rotated twice and its backups were deleted (both, or only the older).

docs/operations.md ("A reload", "A stop"): the stop warns per family what was unread in the deleted files it
held open, with their number and unread bytes; what was read and not delivered is named at the next start from
the checkpoint; each lost byte named once, with its file and size. Seen by hand (/work/notes/s16/attacklong14):
- both backups deleted (2 of 2): 394,390 bytes lost, 224,000 named (175,110 at the stop, 48,890 at the next
  start): ~170 KB of lines read and not delivered lost without a word;
- only the older one deleted (2 of 2): 296,500 bytes lost (3,000 lines), the stop names nothing, and the next
  start says "an unknown number of bytes ... written after the last read: the file was rotated away",
  bytes_lost=0: the agent held that file open and knew its size and its checkpoint.
- the same without the reload (a plain stop, both deleted; 1 of 1 by hand, the test 1 of 1): 394,390 bytes lost,
  246,390 named at the stop, the read-and-undelivered rest as "an unknown number of bytes ... written after the
  last read".
Fixed (stoploss13, with handed14's and race13's changes): a let-go deleted file is saved at its read position, the
start names its read-and-undelivered bytes with their size, and the stop waits a moment for the source its
given-up puts are ending before saving what it read (it was still parsing a read's rest: nothing was saved)."""
from __future__ import annotations

import collections
import os
import re
import signal
import time
from pathlib import Path

import pytest

from tests.e2e.fluentd_agent import line, metric, start_agent, stored, write_config, write_lines
from tests.peers.forward_server import ForwardServer
from tests.support import wait_until
from tests.tail.attack_agent import free_port

pytestmark = pytest.mark.slow


def _lost(counts: collections.Counter, written: dict[str, int]) -> int:
    """The bytes of the lines written that the server does not have."""
    return sum(len(line(src, i)) for src, n in written.items() for i in range(n) if counts[(src, i)] == 0)


def _named(journal: Path) -> int:
    """The bytes the agent's journal names lost."""
    return sum(int(b) for b in re.findall(r"bytes_lost=(\d+)", journal.read_text()))


@pytest.mark.parametrize(("deleted", "reload"), [("both backups", True), ("the older backup", True),
                                                 ("both backups", False)])
def test_stop_in_reload_wait_names_every_lost_byte_once(tmp_path, deleted, reload):
    log = tmp_path / "a.log"
    peer = ForwardServer(port=free_port()).start()
    http_port = free_port()

    def config(tags: list[str]) -> None:
        write_config(tmp_path, http_port, [log], [("fwd", peer.port)], tags)

    journal = tmp_path / "journal.log"

    def start():
        return start_agent(tmp_path / "cfg.yaml", journal)

    written = {"a": 3500, "b": 1000, "c": 500, "z": 1}
    write_lines(log, "a", 0, 500)
    config([])
    agent = start()
    try:
        wait_until(lambda: len(peer.records) >= 500, 120, "the first 500 lines")
        peer.stop()
        write_lines(log, "a", 500, 3000)
        wait_until(lambda: metric(http_port, 'shipper_in_flight_batches{output="fwd"} 8.0'), 120, "a full queue")
        if reload:
            config(["t1"])
            agent.send_signal(signal.SIGHUP)
            wait_until(lambda: "the source restarts once the batches" in journal.read_text(), 120, "the restart's wait")
            wait_until(lambda: "msg=reloaded" in journal.read_text(), 120, "reloaded")
        os.rename(log, f"{log}.1")
        write_lines(log, "b", 0, 1000)
        time.sleep(1.0)  # as a writer would: the rotations are not back to back
        os.rename(f"{log}.1", f"{log}.2")
        os.rename(log, f"{log}.1")
        write_lines(log, "c", 0, 500)
        time.sleep(1.0)
        os.unlink(f"{log}.2")
        if deleted == "both backups":
            os.unlink(f"{log}.1")
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(60) == 1, journal.read_text()  # batches undelivered
        peer.start()
        agent = start()
        write_lines(log, "z", 0, 1)  # the last line: the server has all it will get once it has this one
        wait_until(lambda: ("z", 0) in stored(peer), 120, "the last line")
        # A file in the checkpoint is declared gone once missing from two scans over a second or more
        # (scan_rules.MISSING_SCANS/SECONDS): a stop before that leaves the decision to the next start (handed14).
        # So the stop waits until as much is named as the server lacks (or 30 s: then the assertion below says it).
        end = time.monotonic() + 30
        while _named(journal) < _lost(stored(peer), written) and time.monotonic() < end:
            time.sleep(0.1)
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(60) == 0, journal.read_text()
    finally:
        if agent.poll() is None:
            agent.kill()
        peer.stop()
    counts = stored(peer)
    assert not [k for k, v in counts.items() if v > 1], "lines delivered twice"
    lost, named = _lost(counts, written), _named(journal)
    assert named == lost, f"{lost} bytes lost, {named} named\n{journal.read_text()}"
