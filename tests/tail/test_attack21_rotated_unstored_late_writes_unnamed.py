"""Attack 21 (exam23d, issue 13/21): a rotated file read but not stored (the output down), written on after the stop
by a writer not yet told to reopen (logrotate `create` before `postrotate`'s HUP), deleted while stopped: the start
names its loss as an exact size, short of what was lost.

docs/operations.md ("stop"): "A rotated file whose writer may not have moved on when the agent stopped (or was
killed) is named the same way: logrotate `create` renames the log and makes an empty one, and the writer writes on into
`app.log.1` until `postrotate` makes it reopen its log … When the checkpoint found the family's live file still empty,
the newest rotated file, deleted before the next start, is named `N bytes or more … its writer may have written on to
it after the agent stopped …`"; and a file read past its saved position and deleted while stopped is named "for what
its bytes were, with their size".

Here the Fluentd output is down, app.log (1,100 lines) is renamed app.log.1 with an empty app.log made in its place,
the writer appends 100 lines to app.log.1, the agent stops (exit 1, batches undelivered); while it is stopped the
writer appends 50 more lines to app.log.1 (4,950 bytes), then, HUPed, writes app.log; app.log.1 is deleted. The next
start says `data lost: 108000 bytes of …/app.log.1 did not reach every output: read before the agent stopped (from
offset 9690, 88200 bytes) … (19800 bytes after them were never read)`: an exact 108,000, its size at the stop less
the saved offset; 112,950 bytes were lost (its size at the deletion less that offset). The 50 lines written after the
stop go without a word, and nothing says the figure may be low (3 of 3 by hand, 2 of 2 here).
"""
from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

from tests.e2e.fluentd_agent import held_back_config, run_agent, stored, write_lines
from tests.peers.forward_server import ForwardServer
from tests.support import free_port, stop_process, wait, wait_until

pytestmark = pytest.mark.slow  # (tens of seconds: `make test` hands it out with the slow files, early)


def test_a_rotated_file_written_after_the_stop_and_deleted_is_named_in_full(tmp_path: Path) -> None:
    (tmp_path / "state").mkdir()
    log, rotated = tmp_path / "app.log", tmp_path / "app.log.1"
    log.touch()
    peer = ForwardServer(port=free_port()).start()
    cfg = held_back_config(tmp_path, log, peer.port, batch_size=100, parse_workers=0)
    journal = tmp_path / "agent.err"
    agent = run_agent(cfg, journal)
    try:
        write_lines(log, "a", 0, 100)
        wait_until(lambda: len(stored(peer)) == 100, 60, "the first 100 lines stored")
        delivered_end = log.stat().st_size  # what the output stored: the checkpoint's offset, at most
        peer.stop()  # the output down from here on
        write_lines(log, "a", 100, 1000)
        time.sleep(2)
        os.rename(log, rotated)  # logrotate `create`: the log renamed, an empty one made
        log.touch()
        write_lines(rotated, "a", 1100, 100)  # the writer, not yet HUPed, writes on into app.log.1
        time.sleep(3)
        assert stop_process(agent, 60) == 1, "the stop delivered everything: the output was not down"
        after_stop = write_lines(rotated, "a", 1200, 50)  # still before the HUP: after the stop
        write_lines(log, "a", 1250, 50)  # HUPed: the new live file
        lost = rotated.stat().st_size - delivered_end
        os.unlink(rotated)
        peer.start()
        agent = run_agent(cfg, journal)
        wait(lambda: "app.log.1" in journal.read_text() and len(stored(peer)) >= 150, 60)
    finally:
        stop_process(agent, 60)
        peer.stop()
    named = [line for line in journal.read_text().splitlines() if "data lost" in line and "app.log.1" in line]
    assert named, journal.read_text()[-3000:]
    m = re.search(r"data lost: (\d+) bytes( or more)? of", named[0])
    assert m, named[0]
    said, or_more = int(m.group(1)), bool(m.group(2))
    # The named figure may be a lower bound ("or more") or the whole loss; an exact figure short of the loss hides
    # the lines written after the stop.
    assert or_more or said >= lost, f"{lost} bytes lost ({after_stop} written after the stop), named: {named[0][:600]}"


def test_a_never_read_rotated_file_written_after_the_stop_and_deleted_is_named_in_full(tmp_path: Path) -> None:
    """The same with a file the reader never reached: 3,000 lines behind the down output, two `create` rotations
    (the second's new app.log.1 written on by the writer before and after the stop), app.log.1 deleted while stopped.
    Named: `data lost: 59400 bytes of …/app.log.1 were deleted … before they could be read`; lost: 64,350 bytes (2 of
    2 by hand, 2 of 2 here)."""
    (tmp_path / "state").mkdir()
    log, first, second = tmp_path / "app.log", tmp_path / "app.log.1", tmp_path / "app.log.2"
    log.touch()
    peer = ForwardServer(port=free_port()).start()
    cfg = held_back_config(tmp_path, log, peer.port, batch_size=100, parse_workers=0)
    journal = tmp_path / "agent.err"
    agent = run_agent(cfg, journal)
    try:
        write_lines(log, "a", 0, 100)
        wait_until(lambda: len(stored(peer)) == 100, 60, "the first 100 lines stored")
        peer.stop()  # the output down from here on
        write_lines(log, "a", 100, 3000)  # the reader stops under backpressure in this file
        time.sleep(2)
        os.rename(log, first)
        log.touch()
        write_lines(log, "a", 3100, 500)
        time.sleep(1)
        os.rename(first, second)
        os.rename(log, first)  # the second rotation: its writer, not yet HUPed, writes on into app.log.1
        log.touch()
        write_lines(first, "a", 3600, 100)
        time.sleep(2)
        assert stop_process(agent, 60) == 1, "the stop delivered everything: the output was not down"
        after_stop = write_lines(first, "a", 3700, 50)
        write_lines(log, "a", 3750, 50)  # HUPed: the new live file
        lost = first.stat().st_size  # never read: all of it
        os.unlink(first)
        peer.start()
        agent = run_agent(cfg, journal)
        wait(lambda: "app.log.1" in journal.read_text(), 60)
    finally:
        stop_process(agent, 60)
        peer.stop()
    named = [line for line in journal.read_text().splitlines() if "data lost" in line and "app.log.1" in line]
    assert named, journal.read_text()[-3000:]
    m = re.search(r"data lost: (\d+) bytes( or more)? of", named[0])
    assert m, named[0]
    said, or_more = int(m.group(1)), bool(m.group(2))
    assert or_more or said >= lost, f"{lost} bytes lost ({after_stop} written after the stop), named: {named[0][:600]}"
