"""A stop with the output down saves each file this run found and did not deliver at the position it was found at
(Tailer.unsaved_states), with its size then, so that the next start names all of it if the file is deleted while the
agent is stopped. A file the tailer followed as the live file (its size taken then), not open at the stop (the
descriptor budget, or held only by the holder, whose descriptors the stop lets go first), grown since and rotated:
it was saved with the size the tailer had seen, and named at the next start, as an exact size, short of what it lost.
Found with exam13's catch-up scenario (session 21, catchup13, 2 of 3 scratch runs at load 35-45): app.log.1 saved
at 92,016 bytes and 89,808 bytes, named so, though each held 100,008 bytes when the agent stopped, none delivered.

Session 24 (issue 13, the lead's decision): the size at the stop is all the agent knows, not all there may have been.
Renamed with an empty app.log made in its place (logrotate `create`), app.log.1 may be written on by its writer until
`postrotate`'s HUP, after the stop too, and nothing saved shows the writer moved on: the empty app.log is saved only
with a delivered batch, and none was. So its loss is named with that size "or more" (counted once, its size the
figure). Where the writer was seen moving on (lines of the new app.log identified before the stop), the size is exact."""
from __future__ import annotations

import json
import logging
import os

import pytest

from shipper.tail import scan_rules
from tests.tail.conftest import Follower
from tests.tail.stepped_holder import stepped_holder


@pytest.fixture(autouse=True)
def fast_missing(monkeypatch):
    monkeypatch.setattr(scan_rules, "MISSING_SECONDS", 0.0)


def line(seq: int) -> str:
    return json.dumps({"seq": seq, "pad": "x" * 40}) + "\n"


@pytest.mark.parametrize("moved_on", [False, True], ids=["live-file-empty", "writer-moved-on"])
def test_a_file_found_not_open_at_the_stop_is_saved_with_its_size_then(tmp_path, caplog, moved_on):
    logs = tmp_path / "logs"
    logs.mkdir()
    log = str(logs / "app.log")
    written: list[int] = []

    def write(n: int) -> None:
        with open(log, "a") as fh:
            for _ in range(n):
                written.append(len(written))
                fh.write(line(written[-1]))

    write(300)
    with stepped_holder(log, logs, batch_lines=100) as h:
        h.f.emit = lambda chunk: None  # the output down from the start: nothing delivered, nothing saved
        h.scan_and_read()  # found (its size then), read, not delivered
        h.close_followed()  # not open at the stop
        write(200)  # grown since
        os.rename(log, log + ".1")  # and rotated
        open(log, "w").close()
        if moved_on:
            write(20)  # the writer reopened app.log: its lines are read (not delivered) before the stop
        h.turn()
        t = h.f.tailer
        t.scan()  # the reader held back: a scan finds it renamed, and reads nothing
        t.know_unread_at_stop()
        saved = t.unsaved_states({})
    size = os.stat(log + ".1").st_size
    first = [v for v in saved.values() if v["path"] == log + ".1"]
    assert [(v["offset"], v["size"]) for v in first] == [(0, size)], [(v["path"], v["offset"], v["size"]) for v in saved.values()]
    # deleted while the agent is stopped (rotations past the backups): the next start names all of it
    os.unlink(log + ".1")
    f = Follower([log], logs)
    f.state = saved
    f.restart()
    with caplog.at_level(logging.WARNING, logger="shipper.tail"):
        f.settle()
    lost = [r for r in caplog.records if r.getMessage().startswith("data lost")]
    named = {r.path: (r.bytes_lost, r.size_known) for r in lost}  # type: ignore[attr-defined]
    # Exact only where the agent saw the writer move on; else its size at the stop "or more".
    assert named == {log + ".1": (size, moved_on)}, named
    assert (f"data lost: {size} bytes or more of {log}.1" in lost[0].getMessage()) is not moved_on, lost[0].getMessage()
