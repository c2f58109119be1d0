"""Attack 26 (exam26c, issue 13's cut-back rule): a plain `chmod 640 app.log` or `touch app.log` (os.utime: a
config-management run enforcing a log's mode, a script touching it) during an output outage, after the log was written
to and a look saw it at its new size, is named and counted as a loss: `data lost: an unknown number of bytes of app.log
written to it after byte N were cut away unread: the file was written to and cut back in place to N bytes, its size as
it was` (touch) or `… its mtime set back to what it was (its change time moved)` (chmod); `the agent did not read for
2 s …`; shipper_losses 1. Nothing was written after the look, nothing cut: every line is delivered, once.

docs/operations.md ("copytruncate loses lines") and design.md case 7: the cut back is "a look [that] finds it as long as
at the look before with its change time moved, and the watcher's IN_MODIFY (with the mtime as it was, IN_ATTRIB too)
bears it out … a rename or a chmod alone is no cut". Here the IN_MODIFY that "bears it out" is the writes' the look had
already seen (the reader held, they are not yet consumed), and the chmod's or the touch's IN_ATTRIB supplies the rest.
An operator meets it at any outage on a host whose mode or ownership a tool enforces. Found by hand: touch 1 of 1,
chmod 1 of 1, os.utime 1 of 1, chmod+touch+chown 1 of 1 (chattr +a/-a held: nothing said); again in this file.
"""
from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.fluentd_agent import metric_value, stored, write_lines
from tests.support import wait_until
from tests.tail.held_outage import held_outage

pytestmark = pytest.mark.slow  # (an agent, 2 MB held back behind a frozen peer)


def _touch(log: Path) -> None:
    subprocess.run(["touch", str(log)], check=True)


def _chmod(log: Path) -> None:
    os.chmod(log, 0o640)


ATTRIBUTE_CHANGE = {"touch": _touch, "chmod": _chmod}


def _cut_back(log: Path, size: int) -> None:
    """The real cut the rule is for: lines appended and cut away again at once, before any look or read saw them."""
    write_lines(log, "h", 0, 50)
    os.truncate(log, size)


def _outage(tmp_path: Path, how: str, cut: bool) -> tuple[dict, list[str], float | None]:
    """The log written to during an outage, looked at (/status, and the looks while held: they run each second), then
    `how` done to it (after the real cut, `cut`); the lines delivered, what the journal says of app.log, the losses."""
    with held_outage(tmp_path, first=2000, settle=1.5) as o:
        log, size = o.log, o.size
        time.sleep(1.5)  # (and a look while held: each second; what it saw is what the next one compares with)
        if cut:
            _cut_back(log, size)
        ATTRIBUTE_CHANGE[how](log)
        assert log.stat().st_size == size
        time.sleep(2.0)
        o.peer.frozen.clear()
        write_lines(log, "a", 50000, 10)
        wait_until(lambda: {("a", n) for n in range(50000, 50010)} <= set(stored(o.peer)), 120, "the lines after")
        time.sleep(2.0)  # a late warning, if any
        losses = metric_value(o.http, "shipper_losses_total")
    journal = o.journal.read_text()
    return stored(o.peer), [ln for ln in journal.splitlines() if "lost" in ln and "app.log" in ln], losses


@pytest.mark.parametrize("how", sorted(ATTRIBUTE_CHANGE))
def test_a_chmod_or_touch_during_an_outage_is_no_loss(tmp_path: Path, how: str) -> None:
    # Fixed: the looks while held note the watcher's events first (ChangeWatcher.drain), so the writes they saw come
    # before the chmod's look, not after it (looks.stat).
    got, said, losses = _outage(tmp_path, how, cut=False)
    assert all(got[("a", n)] == 1 for n in range(22000)), "the premise: every line delivered once"
    assert not said and not losses, f"nothing written or cut, yet counted {losses}: {[ln[:300] for ln in said]}"


@pytest.mark.parametrize("how", sorted(ATTRIBUTE_CHANGE))
def test_a_cut_back_with_a_chmod_or_touch_during_an_outage_is_counted(tmp_path: Path, how: str) -> None:
    # The twin: the same, with 50 lines appended and cut away before the chmod or touch: still named, and counted
    # (the hold is the lapse: Lapses.holding).
    got, said, losses = _outage(tmp_path, how, cut=True)
    assert not {("h", n) for n in range(50)} & set(got), "the premise: the 50 lines were cut away unread"
    assert any("cut back in place" in ln for ln in said), f"50 lines cut away during an outage, unsaid: {said}"
    assert (losses or 0) >= 1, f"cut during a lapse of attention, not counted: {said}"
