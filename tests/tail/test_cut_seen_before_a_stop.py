"""A quiet log read to its end, emptied, and the agent stopped (SIGSTOP) right after, then continued (attention.py): a
look that found the log cut before the stop proves the cut came before it, so the stop hid no write the cut took —
"possibly lost", not counted. Found by no look before the stop, or by one only after it, the stop may have hidden
lines written before the cut: counted, as before. In process: the gather window's look (Tailer.look_at), the SIGCONT
handler's note (clock_watch.continued)."""
from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from shipper.tail import clock_watch
from shipper.tail.clock_watch import LAPSE_SECONDS
from tests.tail.conftest import Follower


@pytest.fixture(autouse=True)
def _no_stop_before(monkeypatch):
    monkeypatch.setattr(clock_watch.Watch, "continued_at", float("-inf"))


def _said(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if "lost" in r.getMessage()]


@pytest.mark.parametrize("look", ["before_the_stop", "after_it", "none"])
def test_a_cut_seen_before_a_stop_is_no_loss_the_stop_hid(tmp_path: Path, caplog, look: str) -> None:
    caplog.set_level(logging.INFO, logger="shipper.tail")
    log = tmp_path / "app.log"
    log.write_bytes(b"".join(b'{"n": %d}\n' % i for i in range(20)))
    time.sleep(1.1)  # quiet: no writer busy at the cut (attention.BUSY_NS)
    f = Follower([log], tmp_path)
    f.poll()
    assert len(f.lines()) == 20
    with open(log, "w"):
        pass  # `: > app.log`: all it held was read
    if look == "before_the_stop":
        f.tailer.look_at({str(log)})
    time.sleep(LAPSE_SECONDS + 0.2)  # stopped
    clock_watch.continued()  # SIGCONT
    if look == "after_it":
        f.tailer.look_at({str(log)})
    f.tailer.read_changed({str(log)}, f.emit, f.stop)
    f.settle()
    (msg,) = _said(caplog)
    if look == "before_the_stop":
        assert msg.startswith("data possibly lost") and f.tailer.losses == 0, msg
    else:
        assert msg.startswith("data lost") and "stopped (SIGSTOP)" in msg and f.tailer.losses == 1, msg
