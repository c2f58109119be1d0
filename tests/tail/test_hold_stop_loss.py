"""Issue 13: a stop while the output is down and the log rotates past its last backup. The files the
agent held open (the holder's, the tailer's), deleted by the writer's rotation with bytes unread, are
lost when their last descriptor closes: inherent, but never silent. Their unread bytes are named at
the stop, per family with the count of files, also when a reload handed them to a successor that
never came (the agent stopped during the reload's wait); what the checkpoint names at the restart
covers the rest. Every byte that reached no output is inside a warned, counted loss."""
from __future__ import annotations

import json
import logging
import threading
import time

import pytest

from tests.tail.test_hold import write_rotating
from tests.tail.test_hold_handover import Run
from tests.tail.test_live import WAIT


def line_bytes(seq: int) -> int:
    return len(json.dumps({"seq": seq})) + 1


@pytest.mark.parametrize("handed_over", [False, True], ids=["stop", "stop-in-reload-wait"])
def test_a_stop_names_the_unread_bytes_of_the_deleted_files_held_open(tmp_path, caplog, handed_over):
    d = tmp_path / "logs"
    d.mkdir()
    log = str(d / "app.log")
    open(log, "w").close()
    store: dict = {}
    got: list[int] = []
    up = threading.Event()
    up.set()
    old = Run(tmp_path, log, store, got, up)
    old.thread.start()
    new = handed = None
    try:
        with caplog.at_level(logging.WARNING):
            write_rotating(log, 0, 20, 1000, 1)
            deadline = time.monotonic() + WAIT
            while len(got) < 20 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert len(got) == 20
            up.clear()  # the output goes down; the log rotates past its backup (MaxBackupIndex=1)
            seq, deadline = 20, time.monotonic() + WAIT
            while (old.source.holder is None or old.source.holder.held_bytes() < 3000) and time.monotonic() < deadline:
                write_rotating(log, seq, 100, 50, 1, pause=0.1)  # (a loaded machine's holder catches up meanwhile)
                seq += 100
            assert old.source.holder is not None and old.source.holder.held_bytes() >= 3000, "nothing held deleted"
            if handed_over:  # a reload restarts the source; the agent stops before a successor takes over
                old.source.restarting()
            old.stop.set()
            old.thread.join(WAIT)
            assert not old.thread.is_alive()
            if handed_over:
                handed = old.source.hand_over()
                # What the stop must name rides with it: the holder's deleted files, 3,000 bytes or more.
                assert handed is not None and handed.holder.held_bytes() >= 3000, "the hand-over kept nothing held"
            old.source.close()
            if handed is not None:
                handed.close()  # the stop: what the reload kept for the successor is let go
            stop_records = list(caplog.records)
            up.set()  # the output is back; the agent starts again
            new = Run(tmp_path, log, store, got, up)
            new.thread.start()
            last = -1
            deadline = time.monotonic() + WAIT
            while time.monotonic() < deadline:  # the live file and its backup are read again
                if {seq - 1} <= set(got) and len(got) == last:
                    break
                last = len(got)
                time.sleep(0.5)
    finally:
        for r in (old, new):
            if r is not None:
                r.stop.set()
                if r.thread.ident is not None:
                    r.thread.join(WAIT)
                r.source.close()
    assert len(got) == len(set(got)), "a line was delivered twice"
    missing = sorted(set(range(seq)) - set(got))
    missing_bytes = sum(line_bytes(i) for i in missing)
    assert missing, "every line was delivered: the test made no loss"
    warned = sum(getattr(r, "bytes_lost", 0) for r in caplog.records)
    assert warned >= missing_bytes, (
        f"{len(missing)} lines ({missing_bytes} bytes, {missing[:1]}..{missing[-1:]}) reached no output; warned "
        f"{warned}: " + "; ".join(r.getMessage() for r in caplog.records if "lost" in r.getMessage()))
    # Named at the stop itself: the family, the count of deleted files held, their bytes.
    at_stop = [r for r in stop_records if "rotated file(s) of it were deleted while the agent held them open" in r.getMessage()]
    assert len(at_stop) == 1 and at_stop[0].path == log and at_stop[0].bytes_lost > 0, [r.getMessage() for r in stop_records]
    assert old.source.tailer.losses >= 1
