"""The size a look saw a file at while the reader was held back is saved at once, in an entry of its own
(looks.to_keep, `looked:<fid>`): during an output outage no batch is delivered, and a kill -9 then kept nothing of
it, so a log cut in place above the read position while the agent was away went unnamed. The entry goes once it is
no longer needed (delivered past it, the cut named) and at a start when its state is gone. (End to end, with a real
agent killed: tests/tail/test_looked_size_saved_at_stop_and_kill.py.)"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from shipper.tail.state import FILE_PREFIX, LOOKED_PREFIX
from shipper_plugins.sources.file import FileSource
from tests.tail.conftest import Follower


def _lines(first: int, n: int) -> bytes:
    return b"".join(b'{"seq": %d, "pad": "%s"}\n' % (i, b"x" * 40) for i in range(first, first + n))


def _held_and_looked(tmp_path: Path) -> tuple[Follower, Path, dict[str, Any], dict[str, Any]]:
    """20 lines read and delivered; 100 more written, read and looked at while the output is down (not delivered).
    Returns the follower, the log, what was delivered and the entries the look while held saves."""
    log = tmp_path / "app.log"
    log.write_bytes(_lines(0, 20))
    delivered: dict[str, Any] = {}
    fl = Follower([log], tmp_path, saved=lambda key: delivered.get(key))
    fl.poll()
    delivered.update(fl.state)
    with open(log, "ab") as w:
        w.write(_lines(20, 100))
    fl.tailer.look_at_all()  # (the file source's look while ctx.emit holds the reader)
    return fl, log, delivered, fl.tailer.looks_to_keep(True)


def test_a_kill9_during_an_outage_keeps_the_size_looked_at(tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.INFO, logger="shipper.tail")
    fl, log, delivered, kept = _held_and_looked(tmp_path)
    (key,) = [k for k in delivered if k.startswith(FILE_PREFIX)]
    looked = log.stat().st_size
    assert kept == {LOOKED_PREFIX + key[len(FILE_PREFIX):]: looked}
    assert fl.tailer.looks_to_keep(True) == {}  # (saved once: nothing new)
    fl.state = {**delivered, **kept}  # kill -9: what was saved, no stop's save
    fl.restart()
    cut = len(_lines(0, 70))
    os.truncate(log, cut)  # trimmed while the agent was away
    fl.poll()
    (msg,) = [r.getMessage() for r in caplog.records if "data lost" in r.getMessage()]
    assert "cut in place above what had been read" in msg and f"{looked - cut} bytes or more" in msg, msg
    # The cut said: its entry goes at the next housekeeping
    assert fl.tailer.looks_to_keep(False) == {LOOKED_PREFIX + key[len(FILE_PREFIX):]: None}


def test_the_entry_goes_once_delivered_past_it(tmp_path: Path) -> None:
    fl, _, delivered, kept = _held_and_looked(tmp_path)
    assert kept
    assert fl.tailer.looks_to_keep(False) == {}  # (not delivered yet: kept)
    fl.poll()
    delivered.update(fl.state)  # the output back: all of it delivered
    assert fl.tailer.looks_to_keep(False) == dict.fromkeys(kept)


def test_an_entry_whose_state_is_gone_is_deleted_at_a_start(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(_lines(0, 5))
    fl = Follower([log], tmp_path)
    fl.state = {LOOKED_PREFIX + "0123456789abcdef": 5000}
    fl.restart()
    fl.poll()
    assert fl.seqs() == list(range(5))
    assert not [k for k in fl.state if k.startswith(LOOKED_PREFIX)], fl.state


def test_shipper_status_does_not_list_the_entries() -> None:
    assert FileSource.saved_notes({LOOKED_PREFIX + "0123456789abcdef": 5000}) == []
