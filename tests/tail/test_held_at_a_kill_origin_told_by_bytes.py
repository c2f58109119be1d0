"""A file the holder held by itself at a kill -9, deleted before the next start, with a header every file shares
(held_gone.name_gone): what it held past the furthest any content that may be its origin was read is named lost. Two
kinds of content were taken for a possible origin that the bytes kept disprove, and the loss was only "possibly"
said, not counted (torture seeds of `--seed 610000 --n 2000`, 620000 and 630000: 610101, 610845, 610948, 611764,
620089, 630616):
- a file on disk, read on to its end by this run (the writer's next file, grown past the held file's length), counted
  an origin by its size alone: its own bytes before the held file's line ends are there to compare;
- any content of the family cut in place made every held file's loss "possible" (what was read of the content cut
  away is in no saved state), even when the state of that content is kept (by its copy), its read reach among the
  origins'.

Real files, the real holder (stepped as the torture harness steps it) and tailer, a kill -9 as in
test_held_record_kill.py."""
from __future__ import annotations

import gzip
import logging
import os
import shutil

from tests.tail.test_held_record_kill import Agent, lines, warnings

HEADER = b"# time level message (a header every file shares)\n"


def compress_rotation(a: Agent, next_file: bytes) -> str:
    """logrotate `create` + `compress`: the live file renamed and compressed (the holder holds the .gz), the writer's
    next file made with `next_file`. Returns the .gz's path."""
    rotated = a.live + ".1"
    os.rename(a.live, rotated)
    with open(a.live, "wb") as fh:
        fh.write(next_file)
    with open(rotated, "rb") as src, gzip.open(rotated + ".gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    os.unlink(rotated)
    a.held.step()
    assert any(h.path == rotated + ".gz" for h in a.held.holder.held.values())
    return rotated + ".gz"


def held_losses(caplog) -> list[str]:
    return [m for m in warnings(caplog) if "held open, unread" in m]


def test_a_file_on_disk_whose_bytes_part_from_the_held_one_is_no_origin_of_it(tmp_path, caplog):
    """The live file read in part, written on, rotated and compressed (held), the writer's next file written past the
    .gz's length, then a kill -9 and the .gz deleted: the next file's own lines part from the held file's at its first
    line end past the header. What the .gz held past what was read of the live file is lost, counted."""
    caplog.set_level(logging.WARNING, logger="shipper.tail")
    folder = tmp_path / "logs"
    folder.mkdir()
    live = folder / "app.log"
    live.write_bytes(HEADER + lines(0, 3))
    a = Agent(str(folder))
    try:
        a.scan_and_read()
        with open(live, "ab") as fh:
            fh.write(lines(3, 4))  # never read
        gz = compress_rotation(a, HEADER + lines(100, 30))
        a.kill()
        os.unlink(gz)  # (a cleaner, while the agent is down)
        caplog.clear()
        a.start()
        unread = len(lines(3, 4))
        assert [m.split(" (")[0] for m in held_losses(caplog)] == [
            f"data lost: {unread} bytes or more of {live} were in 1 rotated file(s) of it"], warnings(caplog)
    finally:
        a.close()


def test_a_content_cut_in_place_whose_state_is_kept_leaves_the_held_loss_counted(tmp_path, caplog):
    """A copytruncate the tailer told (the content cut away taken on by its copy, read to its end: its state kept),
    then the live file's new content read in part, written on, rotated and compressed (held), a kill -9, the .gz
    deleted: what it held past what was read of the live file is lost, counted — the content cut away is known (its
    copy's state)."""
    caplog.set_level(logging.WARNING, logger="shipper.tail")
    folder = tmp_path / "logs"
    folder.mkdir()
    live = folder / "app.log"
    live.write_bytes(HEADER + lines(0, 3))
    a = Agent(str(folder))
    try:
        a.scan_and_read()
        shutil.copyfile(live, str(live) + ".1")  # copytruncate, nothing written in its window
        with open(live, "r+b") as fh:
            fh.truncate(0)
            fh.write(HEADER + lines(10, 3))
        a.held.step()
        a.scan_and_read()
        a.scan_and_read()
        assert [x for x in a.f.lines() if not x.startswith(b"#")] == (lines(0, 3) + lines(10, 3)).splitlines()
        with open(live, "ab") as fh:
            fh.write(lines(13, 4))  # never read
        gz = compress_rotation(a, HEADER)
        a.kill()
        os.unlink(gz)
        caplog.clear()
        a.start()
        unread = len(lines(13, 4))
        assert [m.split(" (")[0] for m in held_losses(caplog)] == [
            f"data lost: {unread} bytes or more of {live} were in 1 rotated file(s) of it"], warnings(caplog)
    finally:
        a.close()
